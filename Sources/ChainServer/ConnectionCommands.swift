import ChainVersion
import Foundation
import RESP

/// PING, ECHO, HELLO, QUIT, COMMAND, INFO, CONFIG, CLIENT, SELECT, AUTH: commands about the
/// connection and the server rather than data.
extension Server {
    func runConnectionCommand(_ id: CommandID, _ args: [[UInt8]], session: ClientSession, _ out: inout RESPWriter) {
        switch id {
        case .ping:
            if args.count > 2 { out.error("ERR wrong number of arguments for 'ping' command") }
            else if args.count == 2 { out.bulk(args[1]) } else { out.simple("PONG") }
        case .echo:
            out.bulk(args[1])
        case .script:
            scripts.run(args, &out)
        case .quit:
            out.ok()
            session.endAfterReply(.quit)
        case .select:
            if args[1] == [48] { out.ok() } else { out.error("ERR DB index is out of range") }
        case .auth:
            guard args.count <= 3 else { return out.error("ERR syntax error") }
            let user = args.count == 3 ? String(decoding: args[1], as: UTF8.self) : "default"
            authenticate(session, user: user, password: args[args.count - 1], &out)
        case .hello:
            hello(args, session: session, &out)
        case .command:
            command(args, &out)
        case .info:
            out.verbatim(infoText(section: args.count > 1 ? String(decoding: args[1], as: UTF8.self).lowercased() : "all"))
        case .config:
            config(args, &out)
        case .client:
            client(args, session: session, &out)
        case .cluster:
            cluster(args, &out)
        case .time:
            var tv = timeval()
            gettimeofday(&tv, nil)
            out.arrayHeader(2)
            out.bulk(String(tv.tv_sec))
            out.bulk(String(tv.tv_usec))
        case .readonly, .readwrite:
            // Accepted for Redis Cluster clients that read from replicas: every read is still
            // answered by the chain's tail (forwarded there), so replicas never serve stale data.
            out.ok()
        default:
            preconditionFailure("not a connection command: \(id)")
        }
    }

    /// AUTH and HELLO … AUTH: a wrong name or password gets the same answer either way.
    private func authenticate(_ session: ClientSession, user: String, password: [UInt8], _ out: inout RESPWriter) {
        guard let users = config.users, !users.isOpen else {
            return out.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
        }
        guard let u = users.authenticate(user: user, password: password) else {
            metrics.error("auth_failed")
            return out.error("WRONGPASS invalid username-password pair or user is disabled.")
        }
        session.user = u
        out.ok()
    }

    private func hello(_ args: [[UInt8]], session: ClientSession, _ out: inout RESPWriter) {
        var version = session.protocolVersion
        var i = 1
        if args.count > 1 {
            guard let v = Int(String(decoding: args[1], as: UTF8.self)), v == 2 || v == 3 else {
                out.error("NOPROTO unsupported protocol version")
                return
            }
            version = v
            i = 2
        }
        var name: String?
        while i < args.count {
            let opt = String(decoding: args[i], as: UTF8.self).uppercased()
            if opt == "AUTH" && i + 2 < args.count {
                var reply = RESPWriter(version: out.version)
                authenticate(session, user: String(decoding: args[i + 1], as: UTF8.self), password: args[i + 2], &reply)
                guard session.user != nil else { return out.bytes.append(contentsOf: reply.bytes) }
                i += 3
            } else if opt == "SETNAME" && i + 1 < args.count {
                name = String(decoding: args[i + 1], as: UTF8.self)
                i += 2
            } else {
                out.error("ERR syntax error in HELLO option '\(opt)'")
                return
            }
        }
        session.protocolVersion = version
        if let name { session.name = name }
        out.version = version
        out.mapHeader(7)
        out.bulk("server"); out.bulk("chainstore")
        out.bulk("version"); out.bulk(BuildInfo.version)
        out.bulk("proto"); out.integer(version)
        out.bulk("id"); out.integer(Int64(session.id))
        out.bulk("mode"); out.bulk(chainNode == nil ? "standalone" : "cluster")
        out.bulk("role"); out.bulk("master")
        out.bulk("modules"); out.arrayHeader(0)
    }

    private func command(_ args: [[UInt8]], _ out: inout RESPWriter) {
        let sub = args.count > 1 ? String(decoding: args[1], as: UTF8.self).uppercased() : ""
        switch sub {
        case "":
            out.arrayHeader(CommandID.allCases.count)
            for id in CommandID.allCases { id.writeInfo(&out) }
        case "COUNT":
            out.integer(CommandID.allCases.count)
        case "INFO":
            let ids = args.count > 2 ? args.dropFirst(2).map(CommandID.lookup) : CommandID.allCases.map { Optional($0) }
            out.arrayHeader(ids.count)
            for id in ids {
                if let id { id.writeInfo(&out) } else { out.null() }
            }
        case "DOCS":
            let ids = args.count > 2 ? args.dropFirst(2).compactMap(CommandID.lookup) : CommandID.allCases
            out.mapHeader(ids.count)
            for id in ids {
                out.bulk(id.name)
                id.writeDocs(&out)
            }
        case "LIST":
            out.arrayHeader(CommandID.allCases.count)
            for id in CommandID.allCases { out.bulk(id.name) }
        default:
            out.error("ERR unknown subcommand '\(sub)'. Try COMMAND HELP.")
        }
    }

    private func config(_ args: [[UInt8]], _ out: inout RESPWriter) {
        let sub = String(decoding: args[1], as: UTF8.self).uppercased()
        guard sub == "GET", args.count >= 3 else {
            out.error("ERR CONFIG \(sub) is not supported: configure chainserver with its flags")
            return
        }
        let known: [(String, String)] = [
            ("maxclients", String(config.maxClients)),
            ("proto-max-bulk-len", String(config.maxValueBytes)),
            ("appendonly", config.durability == .fsync ? "yes" : "no"),
            ("appendfsync", config.durability == .fsync ? "always" : "no"),
            ("save", ""),
        ]
        var matches: [(String, String)] = []
        for pattern in args.dropFirst(2) {
            let p = String(decoding: pattern, as: UTF8.self).lowercased()
            for kv in known where (p == "*" || p == kv.0) && !matches.contains(where: { $0.0 == kv.0 }) { matches.append(kv) }
        }
        out.mapHeader(matches.count)
        for (k, v) in matches { out.bulk(k); out.bulk(v) }
    }

    private func client(_ args: [[UInt8]], session: ClientSession, _ out: inout RESPWriter) {
        switch String(decoding: args[1], as: UTF8.self).uppercased() {
        case "ID": out.integer(Int64(session.id))
        case "GETNAME": if let n = session.name { out.bulk(n) } else { out.null() }
        case "SETNAME" where args.count == 3:
            session.name = String(decoding: args[2], as: UTF8.self)
            out.ok()
        case "SETINFO" where args.count == 4:
            let attr = String(decoding: args[2], as: UTF8.self).uppercased()
            guard attr == "LIB-NAME" || attr == "LIB-VER" else {
                return out.error("ERR Unrecognized option '\(String(decoding: args[2], as: UTF8.self))'")
            }
            session.library[attr == "LIB-NAME" ? 0 : 1] = String(decoding: args[3], as: UTF8.self)
            out.ok()
        case "LIST" where args.count == 2:
            out.verbatim(sessions.keys.sorted().compactMap { sessions[$0]?.clientInfo }.map { $0 + "\n" }.joined())
        case "INFO" where args.count == 2:
            out.verbatim(session.clientInfo + "\n")
        case "KILL" where args.count >= 3:
            clientKill(args, session: session, &out)
        default: out.error("ERR unknown or malformed CLIENT subcommand: chainstore answers ID, GETNAME, SETNAME, SETINFO, LIST, INFO and KILL")
        }
    }

    /// `CLIENT KILL addr` (the old form: OK or an error) and `CLIENT KILL ID id | ADDR addr | SKIPME yes/no …`
    /// (the number of connections ended).
    private func clientKill(_ args: [[UInt8]], session: ClientSession, _ out: inout RESPWriter) {
        let words = args.dropFirst(2).map { String(decoding: $0, as: UTF8.self) }
        if words.count == 1 {
            guard let target = sessions.values.first(where: { $0.address == words[0] }) else { return out.error("ERR No such client") }
            target.kill(byItself: target === session)
            return out.ok()
        }
        guard words.count % 2 == 0 else { return out.error("ERR syntax error") }
        var id: UInt64?, addr: String?, skipMe = true
        for i in stride(from: 0, to: words.count, by: 2) {
            switch words[i].uppercased() {
            case "ID":
                guard let v = UInt64(words[i + 1]) else { return out.error("ERR client-id should be greater than 0") }
                id = v
            case "ADDR": addr = words[i + 1]
            case "SKIPME":
                switch words[i + 1].lowercased() {
                case "yes": skipMe = true
                case "no": skipMe = false
                default: return out.error("ERR syntax error")
                }
            default: return out.error("ERR syntax error: chainstore's CLIENT KILL filters are ID, ADDR and SKIPME")
            }
        }
        let targets = sessions.values.filter { s in
            (id.map { s.id == $0 } ?? true) && (addr.map { s.address == $0 } ?? true) && !(skipMe && s === session)
        }
        for t in targets { t.kill(byItself: t === session) }
        out.integer(targets.count)
    }

    func infoText(section: String) -> String {
        var s = ""
        func sec(_ name: String, _ lines: [(String, String)]) {
            guard section == "all" || section == "default" || section == "everything" || section == name else { return }
            s += "# \(name.prefix(1).uppercased() + name.dropFirst())\r\n"
            for (k, v) in lines { s += "\(k):\(v)\r\n" }
            s += "\r\n"
        }
        sec("server", [("chainstore_version", BuildInfo.version), ("chainstore_commit", BuildInfo.commit), ("redis_version", "7.2.0"),
                       ("redis_mode", chainNode == nil ? "standalone" : "cluster"), ("mode", chainNode == nil ? "standalone" : "cluster"),
                       ("node_id", config.nodeID), ("process_id", String(getpid())),
                       ("tcp_port", String(config.listen.port)), ("uptime_in_seconds", String(uptimeSeconds))])
        sec("clients", [("connected_clients", String(sessions.count)), ("maxclients", String(config.maxClients))])
        let rss = Self.residentBytes()
        sec("memory", [("used_memory", String(rss)), ("used_memory_human", Self.human(rss)), ("used_memory_rss", String(rss)),
                       ("value_cache_bytes", String(data.cache.bytes))])
        sec("persistence", [("durability", config.durability.rawValue), ("data_dir", config.dataDir),
                            ("current_seq", String(data.currentSeq)), ("persisted_seq", String(data.persistedSeq)),
                            ("store_healthy", data.writeError == nil ? "1" : "0")])
        sec("stats", [("total_connections_received", String(acceptedTotal)), ("total_commands_processed", String(commandsTotal)),
                      ("expired_keys", String(expirySweeper.expiredKeys)), ("expire_sweep_passes", String(expirySweeper.passes))])
        if ["all", "default", "everything", "keyspace"].contains(section), case let .success(ranges) = keyspaceRanges() {
            keyspaceStats.refresh(ranges, store: data.store, loop: loop)
        }
        sec("keyspace", [("db0", "keys=\(keyspaceStats.keys),expires=\(keyspaceStats.expires),avg_ttl=0")])
        sec("cluster", [("cluster_enabled", chainNode == nil ? "0" : "1")])
        return s
    }

    /// The process's resident memory (what `used_memory` reports: RocksDB's memtables and block
    /// cache live outside any Swift allocator count). Read from procfs, which never blocks.
    static func residentBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func human(_ bytes: Int) -> String {
        let units = ["B", "K", "M", "G", "T"]
        var v = Double(bytes), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(bytes)B" : String(format: "%.2f%@", v, units[i])
    }
}

#if canImport(Glibc)
import Glibc
#endif
