"""The sans-I/O protocol core: bytes in, events out; requests in, bytes out.

Nothing here touches a socket, a file or a clock.  ``machine`` is the state
machine (every state change happens there), ``events`` the messages it
produces, ``flows`` the message exchanges as generators that yield bytes to
send or ``RECV``, ``establish`` and ``auth`` the opening of a session, and
``statement`` the reading of a COPY statement's options.
"""
