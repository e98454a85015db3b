/// Why the server ended a client connection. The raw values are stable: they label the
/// `chainstore_client_closes_total` metric and appear in logs.
enum CloseReason: String, CaseIterable {
    /// The client closed or reset the connection.
    case clientClosed = "client_closed"
    /// The client sent QUIT.
    case quit = "quit"
    /// Malformed RESP; the error was sent before closing.
    case protocolError = "protocol_error"
    /// Replies piled up past --max-output-bytes because the client does not read them.
    case outputBufferLimit = "output_buffer_limit"
    /// A partly received request grew past --max-request-bytes.
    case requestBufferLimit = "request_buffer_limit"
    /// Refused at accept time: --max-clients reached.
    case maxClients = "max_clients"
    /// The server is shutting down.
    case shutdown = "shutdown"
    /// A socket error or timeout.
    case socketError = "socket_error"
    /// No request for `--idle-timeout-s` and nothing pending.
    case idleTimeout = "idle_timeout"
    /// A request started but did not complete within `--request-timeout-s` (a slow or stuck
    /// client, or a slow-loris attack).
    case requestTimeout = "request_timeout"
    /// Ended by another connection's `CLIENT KILL`.
    case killed = "killed"
}
