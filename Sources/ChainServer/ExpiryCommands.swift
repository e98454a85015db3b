import ChainCore
import RESP
import Storage

/// Key expiry: SETEX, PSETEX, GETEX, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, PERSIST,
/// EXPIRETIME and PEXPIRETIME, with Redis's replies and errors. The head turns every relative
/// time into an absolute one from its clock and stores it in the value (`StoredValue`), so all
/// replicas hold the same expiry; a key whose time has come reads as missing everywhere, and the
/// head deletes it for good (by a replicated delete) when a command or the expiry sweep meets it.
struct ExpiryCommands {
    let data: any Keyspace

    /// An absolute expiry time, or one already past (the key goes at once).
    enum Expiry: Equatable {
        case at(UInt64)
        case past
    }

    enum ParseError: Error, Equatable {
        case notInteger
        case invalidTime

        func text(command: String) -> String {
            switch self {
            case .notInteger: return "ERR value is not an integer or out of range"
            case .invalidTime: return "ERR invalid expire time in '\(command)' command"
            }
        }
    }

    /// Reads a time argument given in `unit` (`EX`, `PX`, `EXAT` or `PXAT`) as an absolute expiry.
    /// `positive`: zero and negative values are refused (SET, SETEX, GETEX), not "already past"
    /// (EXPIRE and its kin).
    static func parse(_ unit: String, _ arg: [UInt8], now: UInt64, positive: Bool) -> Result<Expiry, ParseError> {
        guard let v = StringCommands.parseInt64(arg) else { return .failure(.notInteger) }
        if positive && v <= 0 { return .failure(.invalidTime) }
        let seconds = unit == "EX" || unit == "EXAT"
        let (ms, o1) = seconds ? v.multipliedReportingOverflow(by: 1000) : (v, false)
        guard !o1 else { return .failure(.invalidTime) }
        let relative = unit == "EX" || unit == "PX"
        let (absolute, o2) = relative ? ms.addingReportingOverflow(Int64(clamping: now)) : (ms, false)
        guard !o2 else { return .failure(.invalidTime) }
        return .success(absolute <= Int64(clamping: now) ? .past : .at(UInt64(absolute)))
    }

    func run(_ id: CommandID, _ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        switch id {
        case .setex, .psetex:
            switch Self.parse(id == .setex ? "EX" : "PX", args[2], now: data.nowMs, positive: true) {
            case let .failure(e): out.error(e.text(command: id.name))
            case let .success(expiry):
                try setExpiring(args[1], args[3], expiry)
                out.ok()
            }
        case .getex:
            try getex(args, &out)
        case .expire, .pexpire, .expireat, .pexpireat:
            try expire(id, args, &out)
        case .ttl, .pttl, .expiretime, .pexpiretime:
            guard let e = try data.entry(args[1]) else { return out.integer(-2) }
            guard let t = e.expiresAtMs else { return out.integer(-1) }
            let absolute = id == .expiretime || id == .pexpiretime
            let ms = absolute ? Int64(clamping: t) : max(0, Int64(clamping: t) - Int64(clamping: data.nowMs))
            out.integer(id == .pttl || id == .pexpiretime ? Int(ms) : Int((ms + 500) / 1000))
        case .persist:
            guard let e = try data.entry(args[1]), e.expiresAtMs != nil else { return out.integer(0) }
            data.putValue(args[1], e.withExpiry(nil))
            out.integer(1)
        default:
            preconditionFailure("not an expiry command: \(id)")
        }
    }

    private func setExpiring(_ key: [UInt8], _ value: [UInt8], _ expiry: Expiry) throws(CommandError) {
        switch expiry {
        case let .at(t): try data.put(key, StoredValue(payload: value, expiresAtMs: t))
        case .past: try data.delete(key)
        }
    }

    /// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST].
    private func getex(_ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        enum Change { case keep, persist, expire(Expiry) }
        var change = Change.keep
        var i = 2
        while i < args.count {
            let option = String(decoding: args[i], as: UTF8.self).uppercased()
            guard case .keep = change else { return out.error("ERR syntax error") }
            switch option {
            case "PERSIST": change = .persist
            case "EX", "PX", "EXAT", "PXAT":
                guard i + 1 < args.count else { return out.error("ERR syntax error") }
                switch Self.parse(option, args[i + 1], now: data.nowMs, positive: true) {
                case let .failure(e): return out.error(e.text(command: "getex"))
                case let .success(e): change = .expire(e)
                }
                i += 1
            default: return out.error("ERR syntax error")
            }
            i += 1
        }
        guard let e = try data.stringEntry(args[1]) else { return out.null() }
        switch change {
        case .keep: break
        case .persist: if e.expiresAtMs != nil { data.putValue(args[1], e.withExpiry(nil)) }
        case let .expire(.at(t)): data.putValue(args[1], e.withExpiry(t))
        case .expire(.past): try data.delete(args[1])
        }
        out.bulk(e.payload)
    }

    /// EXPIRE key time [NX|XX|GT|LT] and its millisecond and absolute forms. A key without a
    /// time to live counts as expiring never (so GT never applies to it and LT always does).
    private func expire(_ id: CommandID, _ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        var nx = false, xx = false, gt = false, lt = false
        for raw in args.dropFirst(3) {
            switch String(decoding: raw, as: UTF8.self).uppercased() {
            case "NX": nx = true
            case "XX": xx = true
            case "GT": gt = true
            case "LT": lt = true
            case let other: return out.error("ERR Unsupported option \(other)")
            }
        }
        if nx && (xx || gt || lt) { return out.error("ERR NX and XX, GT or LT options at the same time are not compatible") }
        if gt && lt { return out.error("ERR GT and LT options at the same time are not compatible") }
        let unit: String
        switch id {
        case .expire: unit = "EX"
        case .pexpire: unit = "PX"
        case .expireat: unit = "EXAT"
        default: unit = "PXAT"
        }
        let expiry: Expiry
        switch Self.parse(unit, args[2], now: data.nowMs, positive: false) {
        case let .failure(e): return out.error(e.text(command: id.name))
        case let .success(e): expiry = e
        }
        guard let e = try data.entry(args[1]) else { return out.integer(0) }
        let current = e.expiresAtMs
        let new: UInt64 = { if case let .at(t) = expiry { return t } else { return 0 } }()
        if nx && current != nil { return out.integer(0) }
        if xx && current == nil { return out.integer(0) }
        if gt && (current == nil || new <= current!) { return out.integer(0) }
        if lt, let c = current, new >= c { return out.integer(0) }
        switch expiry {
        case let .at(t): data.putValue(args[1], e.withExpiry(t))
        case .past: try data.delete(args[1])
        }
        out.integer(1)
    }
}
