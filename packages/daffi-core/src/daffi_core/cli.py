"""Command-line options the daffi commands share: where the controller is, how to trust it, and
options read from ``$DAFFI_<FLAG>`` too.

``daffi-codegen`` and ``daffi-controller inspect`` are clients of a controller: they take its
address and security the same way (``add_controller_options``, ``add_client_security``).
``daffi-controller`` reads every flag from the environment as well (``EnvDefaults``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from daffi_core.address import Address
from daffi_core.errors import InitializationError
from daffi_core.security import ClientSecurity, ClientTLS, resolve_token

__all__ = [
    "ADDRESS_OPTIONS",
    "ENV_PREFIX",
    "EnvDefaults",
    "add_client_security",
    "add_controller_options",
    "client_security",
    "controller_address",
    "env_name",
]

#: The prefix of the environment variable of a flag: ``--unix-sock-path`` is ``DAFFI_UNIX_SOCK_PATH``.
ENV_PREFIX = "DAFFI_"
#: How a switch (``--require-client-cert``) is spelled on or off in its environment variable.
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
#: Options that name the controller's address; ``EnvDefaults(together=...)`` takes them as one.
ADDRESS_OPTIONS = ("host", "port", "unix_sock_path")


def env_name(flag: str) -> str:
    """``DAFFI_HOST`` for ``--host``: the flag upper-cased, dashes as underscores."""
    return ENV_PREFIX + flag.lstrip("-").upper().replace("-", "_")


class _Unset:
    """The default of an option until ``EnvDefaults.parse`` knows whether the command line gave it."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


@dataclass
class _Option:
    action: argparse.Action
    variable: str
    default: Any


class EnvDefaults:
    """Every long option of ``parser`` (but ``exclude``, given as ``dest`` names) also comes from its
    environment variable (``env_name``); the command line wins, then the variable, then the default.

    Each option's help gains ``[env VARIABLE]``. ``together`` lists options that go as one (the
    address: ``ADDRESS_OPTIONS``): when the command line gives any of them, the variables of the
    others are not read, so ``--unix-sock-path`` is not mixed with a ``$DAFFI_PORT`` of the
    environment. A variable holding a value the flag would refuse is an ``InitializationError``
    naming the variable, raised by ``parse`` only when the variable is used.
    """

    def __init__(
        self,
        parser: argparse.ArgumentParser,
        exclude: Collection[str] = (),
        together: Sequence[Collection[str]] = (),
    ) -> None:
        self.parser = parser
        self.together = [set(group) for group in together]
        self.options: list[_Option] = []
        #: After ``parse``: where each option's value came from ("--flag", "$VARIABLE" or "default").
        self.origins: dict[str, str] = {}
        for action in parser._actions:
            longs = [flag for flag in action.option_strings if flag.startswith("--")]
            if not longs or action.dest in exclude or action.dest == argparse.SUPPRESS:
                continue
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            option = _Option(action, env_name(longs[0]), action.default)
            self.options.append(option)
            action.default = _UNSET
            mark = f"[env {option.variable}]"
            action.help = f"{action.help} {mark}" if action.help else mark

    def parse(self, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> argparse.Namespace:
        """``parser.parse_args(argv)`` with the unset options taken from ``environ`` (``os.environ``)."""
        args = self.parser.parse_args(argv)
        environ = os.environ if environ is None else environ
        given = {o.action.dest for o in self.options if getattr(args, o.action.dest) is not _UNSET}
        shut = set().union(*(group for group in self.together if group & given))
        self.origins = {}
        for option in self.options:
            dest = option.action.dest
            if dest in given:
                self.origins[dest] = option.action.option_strings[-1]
                continue
            raw = environ.get(option.variable, "").strip()
            if raw and dest not in shut:
                setattr(args, dest, _convert(option, raw))
                self.origins[dest] = f"${option.variable}"
            else:
                setattr(args, dest, _default(option))
                self.origins[dest] = "default"
        return args


def _convert(option: _Option, raw: str) -> Any:
    action, variable = option.action, option.variable
    if action.nargs == 0:  # a switch: store_true
        if raw.lower() in TRUE:
            return True
        if raw.lower() in FALSE:
            return False
        raise InitializationError(f"${variable} must be 1, true, yes or on (0, false, no or off: not set), not {raw!r}")
    convert: Callable[[str], Any] = action.type if callable(action.type) else str
    try:
        value = convert(raw)
    except (ValueError, TypeError, argparse.ArgumentTypeError):
        raise InitializationError(f"${variable} must be {_kind(convert)}, not {raw!r}") from None
    if action.choices is not None and value not in action.choices:
        choices = ", ".join(repr(choice) for choice in action.choices)
        raise InitializationError(f"${variable} must be one of {choices}, not {raw!r}")
    return value


def _kind(convert: Callable[[str], Any]) -> str:
    if convert is int:
        return "an integer"
    return "a number" if convert is float else "a valid value"


def _default(option: _Option) -> Any:
    """The parser's default, converted as argparse converts a string default."""
    action, default = option.action, option.default
    if isinstance(default, str) and callable(action.type):
        return action.type(default)
    return default


def add_controller_options(parser: argparse.ArgumentParser, title: str | None = None) -> argparse._ArgumentGroup:
    """``--host``, ``--port``, ``--unix-sock-path`` of a client (read by ``controller_address``)."""
    where = parser.add_argument_group(title or "controller (default: the UNIX socket <tempdir>/daffi/.sock)")
    where.add_argument("--host")
    where.add_argument("--port", type=int)
    where.add_argument("--unix-sock-path")
    return where


def controller_address(args: argparse.Namespace) -> Address:
    """The address the options of ``add_controller_options`` name (``--port`` alone: on localhost)."""
    host = "localhost" if args.port is not None and args.host is None and not args.unix_sock_path else args.host
    return Address.resolve(host, args.port, args.unix_sock_path)


def add_client_security(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """``--token-file``, ``--ssl-ca``, ``--ssl-certificate``, ``--ssl-key`` (read by ``client_security``)."""
    security = parser.add_argument_group("security")
    security.add_argument("--token-file", help="file holding the controller's token (default: $DAFFI_TOKEN)")
    security.add_argument("--ssl-ca", help="CA (PEM) to trust for a TLS controller")
    security.add_argument("--ssl-certificate", help="client certificate (PEM) for mutual TLS")
    security.add_argument("--ssl-key", help="the client certificate's key (PEM)")
    return security


def client_security(args: argparse.Namespace) -> ClientSecurity:
    """The token (``--token-file``, else ``$DAFFI_TOKEN``) and TLS the options of ``add_client_security`` name."""
    tls = None
    if args.ssl_ca or args.ssl_certificate or args.ssl_key:
        tls = ClientTLS(args.ssl_ca, args.ssl_certificate, args.ssl_key)
        tls.check()
    return ClientSecurity(resolve_token(token_file=args.token_file), tls)
