"""``Global``: starts this process's node, controller, or both."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import functools
import importlib.util
import logging
import signal
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, overload

from daffi_core.address import Address
from daffi_core.errors import GlobalContextError, InitializationError, RemoteStoppedUnexpectedly, TimeoutError
from daffi_core.keepalive import resolve_keepalive
from daffi_core.metrics import DEFAULT_METRICS_HOST
from daffi_core.security import ClientSecurity, ClientTLS, ServerTLS, resolve_token
from daffi_core.transport import NATS, new_event_loop, resolve_transport
from daffi_core.transport.nats.subjects import server_url

from daffi import _node
from daffi._bridge import async_library, interrupted, wait, wait_async
from daffi._catalog import Nodes
from daffi._execute import RemoteCall, cancel_scheduled, execute, system
from daffi._metrics import NodeMetrics
from daffi._modifiers import ModifierLike
from daffi._node import FORK_ADVICE, HookName, Node, check_not_forked, forked_from
from daffi._node import Hook as NodeHook
from daffi._observe import Observer, Observers
from daffi._runtime import Runtime
from daffi._scheduler import TaskInfo
from daffi._v1 import running_global, take_exec_modifier
from daffi._workers import AsyncRunner, Backend, DaemonPool

if TYPE_CHECKING:
    from daffi_controller.server import ControllerServer

__all__ = ["Global", "Hook", "KILL_TIMEOUT", "MAX_CALLBACK_THREADS", "SignalHandler", "get_g"]

T = TypeVar("T")
#: ``hook(g, process_name)``: ``on_init``, ``on_node_connect``, ``on_node_disconnect`` (may be a coroutine function).
Hook = Callable[["Global", str], object]
#: What ``signal.signal`` takes and returns.
SignalHandler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None
log = logging.getLogger("daffi")
#: Threads that run sync callbacks (each blocked nested call holds one).
MAX_CALLBACK_THREADS = 64
#: Seconds between two checks for signals while ``join`` blocks.
_JOIN_POLL = 0.1
#: Seconds ``kill_all`` waits for each node to acknowledge.
KILL_TIMEOUT = 10.0


class _Terminate(SystemExit):
    """SIGTERM, raised in the main thread: ``join`` stops cleanly, elsewhere the process exits."""


class _Prepare(Protocol):
    """``g.call.<name>``: called with the callback's arguments, it gives the call waiting for ``& MODIFIER``."""

    @overload
    def __call__(self, *args: object, __exec_modifier__: ModifierLike, **kwargs: object) -> Any: ...
    @overload
    def __call__(self, *args: object, **kwargs: object) -> RemoteCall[Any]: ...


class _CallProxy:
    """``g.call``: its attributes are the remote callbacks, by name."""

    def __init__(self, g: Global) -> None:
        self._g = g

    def __getattr__(self, name: str) -> _Prepare:
        if name.startswith("__"):
            raise AttributeError(name)
        g = self._g

        def prepare(*args: object, **kwargs: object) -> object:
            modifier = take_exec_modifier(kwargs) if kwargs else None  # daffi 1.x: __exec_modifier__=
            call: RemoteCall[object] = RemoteCall(name, args, kwargs, node=g._require_node)
            return call if modifier is None else execute(call, modifier)

        return cast(_Prepare, prepare)


class Global:
    """The daffi configurator: what this process runs (controller, node or both) and where.

    With neither ``host`` nor ``port`` the controller is reached over the UNIX socket
    ``unix_sock_path`` (default ``<tempdir>/daffi/.sock``). The components run in a
    background thread; ``join()`` blocks until they stop.
    """

    def __init__(
        self,
        process_name: str | None = None,
        init_controller: bool = False,
        init_node: bool = True,
        host: str | None = None,
        port: int | None = None,
        unix_sock_path: str | None = None,
        on_init: Hook | None = None,
        on_node_connect: Hook | None = None,
        on_node_disconnect: Hook | None = None,
        *,
        token: str | None = None,
        ssl_certificate: str | None = None,
        ssl_key: str | None = None,
        ssl_ca: str | None = None,
        ssl_require_client_cert: bool = False,
        keepalive: float | None = None,
        connect_timeout: float = 30.0,
        async_backend: Backend | None = None,
        transport: str | None = None,
        max_pending_calls: int | None = None,
        metrics_port: int | None = None,
        metrics_host: str = DEFAULT_METRICS_HOST,
    ) -> None:
        """Start the components.

        Args:
            process_name: This node's name, unique among the connected nodes (default: ``node-`` and
                a random suffix). Other nodes see it in ``BROADCAST`` results, ``wait_process`` and
                ``registered_callbacks``.
            init_controller: Start a controller in this process (needs ``pip install daffi-node[controller]``).
            init_node: Start a node: register this process's callbacks and make calls.
            host: The controller's host (TCP). With neither ``host`` nor ``port`` the UNIX socket
                ``unix_sock_path`` is used.
            port: The controller's TCP port; a controller started here with a ``host`` and no port
                binds a free one (see ``port``).
            unix_sock_path: The controller's socket file (default ``<tempdir>/daffi/.sock``); a missing
                parent directory is created owner-only.
            on_init: ``hook(g, process_name)`` once this node is connected for the first time.
            on_node_connect: ``hook(g, process_name)`` when another node connects.
            on_node_disconnect: ``hook(g, process_name)`` when another node leaves. Hooks run in a worker
                thread; a coroutine function's coroutine is awaited on the async runner.
            token: The shared secret (default ``$DAFFI_TOKEN``): a controller started here requires it
                from every node, and the node presents it.
            ssl_certificate: TLS (TCP only): the certificate a controller started here serves, and that
                the node presents when given.
            ssl_key: The private key of ``ssl_certificate``.
            ssl_ca: The CA the node trusts (hosting the controller: default its own certificate), and
                that signs admitted node certificates under ``ssl_require_client_cert``.
            ssl_require_client_cert: A controller started here admits only nodes with a certificate
                signed by ``ssl_ca``.
            keepalive: Seconds (1 to 86,400; default ``$DAFFI_KEEPALIVE``, else 20) between the pings
                that detect a silent network cut: a ping unanswered for half the interval closes the
                connection, so within ``1.5 * keepalive`` seconds the node's open calls fail with
                ``RemoteStoppedUnexpectedly`` and the node starts reconnecting (a controller started
                here drops silent nodes just as fast). Give the controller (``daffi-controller
                --keepalive``) the same value: it bounds how fast the controller notices a lost node.
            connect_timeout: Seconds to wait for the controller at start before ``InitializationError``.
            async_backend: ``"asyncio"`` or ``"trio"``: where async callbacks run (default: trio when
                ``Global`` is created inside a trio run, else asyncio).
            transport: How frames travel (default ``$DAFFI_TRANSPORT``, else ``"auto"``): ``"grpc"``,
                ``"socket"`` (length-prefixed frames over plain sockets), or ``"auto"``: the socket
                transport on a UNIX socket, gRPC on TCP. Node and controller must use the same.
                ``"nats"`` puts the node on the NATS server at ``host``/``port`` with no daffi
                controller (``pip install daffi-node[nats]``); the token, if any, is the server's
                auth token.
            max_pending_calls: Bounds the calls this node has open at once (default: no limit): the
                call that would exceed it fails at once with ``PendingCallsLimitExceeded``, unsent.
            metrics_port: Serve this node's side of the calls as Prometheus text at
                ``http://metrics_host:metrics_port/metrics`` (calls made and served per callback, their
                durations, calls in flight; default: none; 0 picks a free port, see ``metrics_port``);
                needs ``pip install daffi-node[metrics]``.
            metrics_host: The host of ``metrics_port`` (default 127.0.0.1).

        Raises:
            InitializationError: Bad arguments, nothing to start, a controller that cannot start, or
                no controller answering within ``connect_timeout``.
        """
        if forked_from() is not None:
            raise InitializationError(FORK_ADVICE.format(pid=forked_from()))
        if not (init_controller or init_node):
            raise InitializationError("nothing to start: init_controller and init_node are both False")
        if max_pending_calls is not None and (
            isinstance(max_pending_calls, bool) or not isinstance(max_pending_calls, int) or max_pending_calls < 1
        ):
            raise InitializationError(
                f"max_pending_calls must be a whole number of at least 1, not {max_pending_calls!r}"
            )
        if async_backend not in (None, "asyncio", "trio"):
            raise InitializationError(f"async_backend must be 'asyncio' or 'trio', not {async_backend!r}")
        if init_controller and host is not None and port is None and unix_sock_path is None:
            # As in daffi 1.x: a controller given a host and no port binds a free one (see g.port).
            self.address = Address(host=host, port=0)
        else:
            self.address = Address.resolve(host, port, unix_sock_path)
        self.transport = resolve_transport(transport, self.address)
        if self.transport == NATS:
            if init_controller:
                raise InitializationError(
                    "transport='nats' runs no daffi controller (the NATS server routes): drop init_controller=True"
                )
            server_url(self.address)  # a NATS server has a host and a port: refuse a UNIX socket now
        self._token = resolve_token(token)
        self._keepalive = resolve_keepalive(keepalive)
        self._tls = _tls_settings(init_controller, ssl_certificate, ssl_key, ssl_ca, ssl_require_client_cert)
        self.process_name = process_name or f"node-{uuid.uuid4().hex[:12]}"
        self.is_controller = init_controller
        self._init_node = init_node
        self._stopped = threading.Event()
        self._finished = threading.Event()  # the components have stopped (set after _stopped)
        self._stop_lock = threading.Lock()
        self._server: ControllerServer | None = None
        self._metrics: NodeMetrics | None = None
        #: The port of this node's ``/metrics`` (``metrics_port``; the one picked when it was 0).
        self.metrics_port: int | None = None
        self._node: Node | None = None
        self._previous_sigterm: SignalHandler = None
        running = _node.running()
        _node.install(self, repr(getattr(running, "process_name", "?")) if running is not None else "?")
        self._runtime = Runtime(new_event_loop(self.transport))
        self._pool = DaemonPool(MAX_CALLBACK_THREADS, "daffi-callback")
        self._runner = AsyncRunner(async_backend or ("trio" if async_library() == "trio" else "asyncio"))
        try:
            if init_controller:
                self._start_controller()
            if init_node:
                given: dict[HookName, Hook | None] = {
                    "on_init": on_init,
                    "on_node_connect": on_node_connect,
                    "on_node_disconnect": on_node_disconnect,
                }
                hooks: dict[HookName, NodeHook | None] = {
                    name: functools.partial(hook, self) if hook is not None else None for name, hook in given.items()
                }
                security = ClientSecurity(self._token, self._tls[1] if self._tls else None)
                if metrics_port is not None:
                    self._metrics = NodeMetrics()
                    self.metrics_port = self._metrics.server.start(metrics_host, metrics_port)
                self._node = Node(
                    self,
                    self.process_name,
                    self.address,
                    security,
                    self.transport,
                    self._runtime,
                    self._pool,
                    self._runner,
                    hooks,
                    keepalive=self._keepalive,
                    max_pending_calls=max_pending_calls,
                    observer=_observer(self.process_name, self._metrics),
                )
                _node.attach(self, self._node)
                self._node.start(connect_timeout)
        except BaseException:
            self._shutdown(grace=0.5)
            raise
        self._install_sigterm()
        atexit.register(self._at_exit)

    def _start_controller(self) -> None:
        try:
            from daffi_controller.server import ControllerServer
        except ImportError:
            raise InitializationError(
                "init_controller=True needs the controller package: pip install daffi-node[controller] "
                "(or pip install daffi-controller)"
            ) from None
        server = ControllerServer(
            self.address,
            self._token,
            self._tls[0] if self._tls else None,
            keepalive=self._keepalive,
            transport=self.transport,
        )
        self._runtime.run(server.start(), 30)
        self._server = server
        if self.address.port == 0:  # the port the system picked: the node connects there
            self.address = dataclasses.replace(self.address, port=server.port)
        log.info("controller of %r listening on %s", self.process_name, server.describe())

    # -- what it runs, and where
    @property
    def host(self) -> str | None:
        """The controller's host (None on a UNIX socket)."""
        return self.address.host

    @property
    def port(self) -> int | None:
        """The controller's TCP port (the one bound when the controller was given none); None on a UNIX socket."""
        return self._server.port if self._server is not None else self.address.port

    @property
    def init_controller(self) -> bool:
        """This Global started a controller."""
        return self.is_controller

    @property
    def init_node(self) -> bool:
        """This Global started a node."""
        return self._init_node

    # -- lifecycle
    @property
    def is_running(self) -> bool:
        """``stop()`` has not been called (nor a signal stopped it)."""
        return not self._stopped.is_set()

    def stop(self, grace: float = 2.0, kill_all_connected_nodes: bool = False) -> None:
        """Stop this process's components: open calls get ``grace`` seconds; the socket file is removed.

        With ``kill_all_connected_nodes`` every other connected node is stopped first (``kill_all``).
        """
        if kill_all_connected_nodes and self.is_running:
            self.kill_all()
        self._shutdown(grace)

    def kill_all(self) -> list[str]:
        """Stop every other connected node: each process stops as on SIGTERM, logging who asked.

        Returns the names of the nodes asked. A node that is gone before it answers counts as stopped.
        """
        node = self._require_node()
        names = sorted(node.catalog.nodes())
        for name in names:
            try:
                system(node, name, "stop_process", self.process_name, KILL_TIMEOUT)
            except RemoteStoppedUnexpectedly:
                pass  # it went away first, which is what was asked
            except GlobalContextError:
                pass  # it left between the listing and the request
        return names

    def _at_exit(self) -> None:
        if self._server is not None and self.is_running:
            # daffi 1.x kept serving here; an interpreter that ends its main ends (see docs/migrating.md).
            log.warning(
                "the program is exiting while %r hosts the controller: stopping it; "
                "call g.join() (or await g.join_async()) to keep serving",
                self.process_name,
            )
        self.stop()

    def _shutdown(self, grace: float) -> None:
        if forked_from() is not None:  # the parent's threads are not here: nothing to stop, nothing to wait for
            self._stopped.set()
            self._finished.set()
            return
        with self._stop_lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
        try:
            if self._node is not None:
                with contextlib.suppress(Exception):
                    self._node.stop(grace)
            if self._server is not None:
                with contextlib.suppress(Exception):
                    self._runtime.run(self._server.stop(1.0), 10)
            if self._metrics is not None:
                self._metrics.server.close()
        finally:
            self._runner.stop()
            self._pool.shutdown()
            self._runtime.close()
            _node.uninstall(self)
            self._restore_sigterm()
            atexit.unregister(self._at_exit)
            self._finished.set()

    def join(self) -> None:
        """Block until ``stop()`` is called, or SIGINT/SIGTERM arrives (then stop cleanly)."""
        try:
            # Short waits: a signal the kernel delivers to another thread (gRPC's, daffi's) does not
            # interrupt the main thread's wait, and Python only runs its handler once the main
            # thread runs again.
            with _sigint_interrupts():
                # Logged once the handlers are in place: a signal arriving from here on is a clean stop.
                log.info("%r is serving; stop it with Ctrl-C or SIGTERM", self.process_name)
                while not self._stopped.wait(_JOIN_POLL):
                    pass
        except (KeyboardInterrupt, _Terminate):
            log.info("%r stopping on a signal", self.process_name)
            with _signals_ignored():  # a second Ctrl-C must not cut the clean stop short
                self.stop()

    async def join_async(self) -> None:
        """``join`` for asyncio and trio code: returns once the components stopped.

        SIGINT or SIGTERM (the main thread's) stops them cleanly meanwhile, and then it returns.
        """
        future: Future[None] = Future()

        def watch() -> None:
            self._finished.wait()
            future.set_result(None)

        threading.Thread(target=watch, name="daffi-join", daemon=True).start()
        with _signals_stop(self):
            await wait_async(future, None, "join")
        self._restore_sigterm()

    def __enter__(self) -> Global:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            raise _Terminate(128 + signum)

        self._previous_sigterm = signal.signal(signal.SIGTERM, on_sigterm)

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None and threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    # -- the node
    def _require_node(self) -> Node:
        check_not_forked()
        if self._stopped.is_set():
            raise GlobalContextError("Global can no longer make remote calls because it was stopped")
        if self._node is None:
            raise GlobalContextError("this Global runs no node (init_node=False): it cannot make remote calls")
        return self._node

    @property
    def call(self) -> _CallProxy:
        """``g.call.<name>(*args, **kwargs) & MODIFIER`` calls a remote callback without a fetcher."""
        return _CallProxy(self)

    @property
    def registered_callbacks(self) -> dict[str, list[str]]:
        """``{process_name: [callback names]}`` of the other connected nodes."""
        return self._require_node().catalog.offers()

    def _when(self, predicate: Callable[[Nodes], bool]) -> Future[None]:
        return self._require_node().catalog.when(predicate)

    def wait_process(self, process_name: str, timeout: float | None = None) -> None:
        """Block until a node named ``process_name`` is connected (TimeoutError after ``timeout`` s)."""
        try:
            self._wait(lambda nodes: process_name in nodes, timeout, f"process {process_name!r}")
        except KeyboardInterrupt as interrupt:  # Ctrl-C: the traceback ends at the caller's line
            interrupted(interrupt)
            raise

    async def wait_process_async(self, process_name: str, timeout: float | None = None) -> None:
        """``wait_process`` without blocking the event loop (asyncio or trio)."""
        await self._wait_async(lambda nodes: process_name in nodes, timeout, f"process {process_name!r}")

    def wait_function(self, func_name: str, timeout: float | None = None) -> None:
        """Block until some other node offers callback ``func_name`` (TimeoutError after ``timeout`` s)."""
        try:
            self._wait(_offers(func_name), timeout, f"callback {func_name!r}")
        except KeyboardInterrupt as interrupt:
            interrupted(interrupt)
            raise

    async def wait_function_async(self, func_name: str, timeout: float | None = None) -> None:
        """``wait_function`` without blocking the event loop (asyncio or trio)."""
        await self._wait_async(_offers(func_name), timeout, f"callback {func_name!r}")

    def _wait(self, predicate: Callable[[Nodes], bool], timeout: float | None, what: str) -> None:
        future = self._when(predicate)
        try:
            wait(future, timeout, what)
        except TimeoutError:
            raise self._not_seen(future, what, timeout) from None
        except KeyboardInterrupt:
            if self._node is not None:
                self._node.catalog.forget(future)
            raise

    async def _wait_async(self, predicate: Callable[[Nodes], bool], timeout: float | None, what: str) -> None:
        future = self._when(predicate)
        try:
            await wait_async(future, timeout, what)
        except TimeoutError:
            raise self._not_seen(future, what, timeout) from None

    def _not_seen(self, future: Future[None], what: str, timeout: float | None) -> TimeoutError:
        self._require_node().catalog.forget(future)
        connected = sorted(self.registered_callbacks) or "no other node"
        return TimeoutError(f"{what} did not appear within {timeout} s; connected: {connected}")

    # -- operations on a named node
    @overload
    def transfer_and_call(
        self, remote_process: str, func: Callable[..., Awaitable[T]], *args: object, **kwargs: object
    ) -> T: ...
    @overload
    def transfer_and_call(self, remote_process: str, func: Callable[..., T], *args: object, **kwargs: object) -> T: ...
    def transfer_and_call(
        self, remote_process: str, func: Callable[..., object], *args: object, **kwargs: object
    ) -> object:
        """Send ``func`` (by value, with dill) to ``remote_process``, run it there, return its result.

        An ``async def`` runs on the remote node's loop; its awaited result comes back.
        """
        if not callable(func):
            raise InitializationError(f"transfer_and_call needs a function, not {type(func).__name__}")
        try:
            return system(self._require_node(), remote_process, "transfer_and_call", (func, args, kwargs))
        except KeyboardInterrupt as interrupt:
            interrupted(interrupt)
            raise

    def get_scheduled_tasks(self, remote_process: str) -> list[TaskInfo]:
        """The PERIOD tasks this process scheduled on ``remote_process`` (still running ones).

        Each is a dict: ``uuid``, ``func_name``, ``condition`` (``"period"`` or ``"at_time"``) and ``runs``.
        """
        tasks: list[TaskInfo] = system(self._require_node(), remote_process, "scheduled_tasks", None)
        return tasks

    def cancel_scheduled_task_by_uuid(self, remote_process: str, uuid: str) -> bool:
        """Cancel a PERIOD task; False when it had already finished or been cancelled."""
        return cancel_scheduled(self._require_node(), remote_process, uuid)

    def __repr__(self) -> str:
        roles = [r for r, on in (("controller", self._server is not None), ("node", self._node is not None)) if on]
        return f"<Global {self.process_name!r} {'+'.join(roles)} at {self.address}>"


def get_g() -> Global:
    """The ``Global`` running in this process; InitializationError when there is none."""
    return cast(Global, running_global())


def _tls_settings(
    hosts_controller: bool, certificate: str | None, key: str | None, ca: str | None, require_client_cert: bool
) -> tuple[ServerTLS | None, ClientTLS] | None:
    """(the controller's TLS, the node's TLS) for these arguments; None for plaintext."""
    if not (certificate or key or ca or require_client_cert):
        return None
    if (certificate is None) != (key is None):
        raise InitializationError("ssl_certificate and ssl_key go together")
    server = None
    if hosts_controller:
        if certificate is None or key is None:
            raise InitializationError("a controller serving TLS needs ssl_certificate and ssl_key")
        server = ServerTLS(certificate, key, ca, require_client_cert)
        # Its own node trusts the controller's certificate when no CA is named (self-signed).
        return server, ClientTLS(
            ca or certificate, certificate if require_client_cert else None, key if require_client_cert else None
        )
    return server, ClientTLS(ca, certificate, key)


@contextlib.contextmanager
def _stop_signals(handler: SignalHandler) -> Iterator[None]:
    """SIGINT and SIGTERM go to ``handler`` meanwhile (main thread only: elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _signals_ignored() -> contextlib.AbstractContextManager[None]:
    return _stop_signals(signal.SIG_IGN)


def _signals_stop(g: Global) -> contextlib.AbstractContextManager[None]:
    """While an async ``join`` waits: SIGINT and SIGTERM stop ``g`` (in a thread) instead of raising.

    Raising from a signal handler would unwind whatever the event loop runs, leaving the
    components running; asyncio's runner would cancel the main task instead of stopping them.
    """

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("%r stopping on a signal", g.process_name)
        threading.Thread(target=g.stop, name="daffi-stop", daemon=True).start()

    return _stop_signals(on_signal)


@contextlib.contextmanager
def _sigint_interrupts() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt while ``join`` blocks, even inside ``asyncio.run``.

    asyncio's runner takes SIGINT to cancel its main task, but that task is the one blocked in this
    synchronous ``join``: the cancellation would never run. Every other handler is left alone.
    """
    runner = getattr(asyncio, "Runner", None)  # Python 3.11+; 3.10's asyncio.run takes no signal
    handler = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    bound = handler.func if isinstance(handler, functools.partial) else handler  # the runner binds its task
    if runner is None or not isinstance(getattr(bound, "__self__", None), runner):
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)


def _offers(func_name: str) -> Callable[[Nodes], bool]:
    return lambda nodes: any(func_name in cbs for cbs in nodes.values())


def _observer(process_name: str, metrics: NodeMetrics | None) -> Observer | None:
    """What follows this node's calls: its metrics when served, spans where OpenTelemetry's API is installed."""
    observers: list[Observer] = [metrics] if metrics is not None else []
    if _installed("opentelemetry"):  # the extra daffi-node[otel]; without it nothing of it is imported
        from daffi._tracing import Tracing

        observers.append(Tracing(process_name))
    if len(observers) == 1:
        return observers[0]
    return Observers(observers) if observers else None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # in sys.modules as None: deliberately made unimportable
        return False
