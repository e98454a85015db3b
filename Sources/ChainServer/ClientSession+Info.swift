/// What `CLIENT LIST`, `CLIENT INFO` and `CLIENT KILL` see of a connection.
extension ClientSession {
    /// The client's address as `CLIENT LIST` prints it (`addr=`).
    var address: String { conn.peer.map { "\($0)" } ?? "?" }

    /// One `CLIENT LIST` line (Redis's field names, those that mean something here).
    var clientInfo: String {
        let now = monotonicNanos()
        let fields: [(String, String)] = [
            ("id", String(id)), ("addr", address), ("laddr", "\(server.config.listen)"),
            ("name", name ?? ""), ("age", String((now - createdNanos) / 1_000_000_000)),
            ("idle", String((now - lastReadNanos) / 1_000_000_000)), ("flags", "N"), ("db", "0"),
            ("sub", "0"), ("psub", "0"), ("multi", "-1"), ("resp", String(protocolVersion)),
            ("user", user?.name ?? "default"), ("lib-name", library[0] ?? ""), ("lib-ver", library[1] ?? ""),
        ]
        return fields.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
    }

    /// `CLIENT KILL`: ends this connection — after the current reply when it killed itself.
    func kill(byItself: Bool) {
        if byItself { endAfterReply(.killed) } else { abort(.killed) }
    }
}
