"""The socket transport: daffi's ``Batch`` messages as length-prefixed frames over TCP or a UNIX socket.

``wire`` holds the bytes (shared by both sides), ``client`` the blocking connection nodes and
tools use, ``server`` the asyncio side the controller runs.
"""
