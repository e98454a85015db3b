import ChainCore
import RESP
import Storage

/// GET, SET and the other string commands, executed against a `Keyspace` of user keys.
struct StringCommands {
    let data: any Keyspace
    let maxValueBytes: Int

    func run(_ id: CommandID, _ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        switch id {
        case .get:
            if let e = try data.stringEntry(args[1]) { out.bulk(e.payload) } else { out.null() }
        case .set:
            try set(args, &out)
        case .del:
            var n = 0
            for k in args.dropFirst() {
                // An expired key is deleted too (the head decides it is gone), but not counted.
                guard let e = try data.storedEntry(k) else { continue }
                try data.delete(k)
                if e.isLive(nowMs: data.nowMs) { n += 1 }
            }
            out.integer(n)
        case .exists:
            var n = 0
            for k in args.dropFirst() where try data.entry(k) != nil { n += 1 }
            out.integer(n)
        case .mget:
            out.arrayHeader(args.count - 1)
            for k in args.dropFirst() {
                if let e = try data.entry(k), e.type == .string { out.bulk(e.payload) } else { out.null() }
            }
        case .mset:
            guard args.count % 2 == 1 else { out.error("ERR wrong number of arguments for 'mset' command"); return }
            for i in stride(from: 1, to: args.count, by: 2) { try data.put(args[i], args[i + 1]) }
            out.ok()
        case .incr: try incr(args[1], by: 1, &out)
        case .decr: try incr(args[1], by: -1, &out)
        case .incrby, .decrby:
            guard let d = Self.parseInt64(args[2]) else { out.error("ERR value is not an integer or out of range"); return }
            if id == .decrby {
                guard d != Int64.min else { out.error("ERR decrement would overflow"); return }
                try incr(args[1], by: -d, &out)
            } else {
                try incr(args[1], by: d, &out)
            }
        case .append:
            let old = try data.stringEntry(args[1])
            guard (old?.payloadCount ?? 0) + args[2].count <= maxValueBytes else {
                out.error("ERR string exceeds maximum allowed size (--max-value-bytes \(maxValueBytes))")
                return
            }
            let new = Array(old?.payload ?? []) + args[2]
            try data.modify(args[1], new, keepingExpiryOf: old)
            out.integer(new.count)
        case .strlen:
            out.integer(try data.stringEntry(args[1])?.payloadCount ?? 0)
        case .memory:
            // MEMORY USAGE: the key and value bytes plus what an entry costs in the store and its
            // indexes (about; RocksDB compresses and shares blocks).
            if let e = try data.entry(args[2]) {
                let fields = e.type == .hash ? try data.storedFields(args[2]).reduce(0) { $0 + $1.field.count + $1.value.count + Self.entryOverheadBytes } : 0
                out.integer(args[2].count + e.raw.count + Self.entryOverheadBytes + fields)
            } else { out.null() }
        case .getdel, .getset, .setnx, .msetnx, .getrange, .substr, .setrange, .incrbyfloat, .lcs:
            try runMore(id, args, &out)
        case .setex, .psetex, .getex, .expire, .pexpire, .expireat, .pexpireat, .ttl, .pttl, .persist, .expiretime, .pexpiretime:
            try ExpiryCommands(data: data).run(id, args, &out)
        case .hset, .hsetnx, .hmset, .hget, .hmget, .hgetall, .hdel, .hexists, .hlen, .hincrby, .hincrbyfloat, .hkeys, .hvals,
             .hstrlen, .hscan, .hrandfield:
            try HashCommands(data: data).run(id, args, &out)
        case .eval:
            try LockScripts(data: data).run(args, &out)
        case .dump, .restore:
            try DumpCommands(data: data).run(id, args, &out)
        case .object, .sort, .sortRO:
            try ObjectSortCommands(data: data).run(id, args, &out)
        default:
            try KeyCommands(data: data).run(id, args, &out)
        }
    }

    /// About what one key costs beyond its bytes: the store's internal key (sequence, type, slot
    /// prefix) and index entries.
    static let entryOverheadBytes = 48

    /// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL].
    /// The one mutation of a plain `SET key value` (no options), known without running it
    /// against a recording view of the data — the head's commonest write. Nil for any other
    /// command, and while the store may hold hashes (a SET over a hash also deletes its fields).
    static func plainSet(_ id: CommandID, _ args: [[UInt8]], mayHoldHashes: Bool) -> Mutation? {
        guard id == .set, args.count == 3, !mayHoldHashes else { return nil }
        return .put(key: args[1], value: StoredValue.encoded(payload: args[2]))
    }

    private func set(_ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        var nx = false, xx = false, get = false, keepTTL = false
        var expiry: ExpiryCommands.Expiry?
        var i = 3
        while i < args.count {
            let option = String(decoding: args[i], as: UTF8.self).uppercased()
            switch option {
            case "NX": nx = true
            case "XX": xx = true
            case "GET": get = true
            case "KEEPTTL": keepTTL = true
            case "EX", "PX", "EXAT", "PXAT":
                guard expiry == nil, i + 1 < args.count else { return out.error("ERR syntax error") }
                switch ExpiryCommands.parse(option, args[i + 1], now: data.nowMs, positive: true) {
                case let .success(e): expiry = e
                case let .failure(message): return out.error(message.text(command: "set"))
                }
                i += 1
            default:
                return out.error("ERR syntax error")
            }
            i += 1
        }
        if (nx && xx) || (keepTTL && expiry != nil) { return out.error("ERR syntax error") }
        let needOld = nx || xx || get || keepTTL
        let old = needOld ? try data.entry(args[1]) : nil
        // SET … GET reads the old value, which must be a string; SET alone replaces any type.
        if get, let old, old.type != .string { throw .wrongType }
        let apply = (!nx || old == nil) && (!xx || old != nil)
        if apply {
            switch expiry {
            case .none: try data.put(args[1], StoredValue(payload: args[2], expiresAtMs: keepTTL ? old?.expiresAtMs : nil))
            case let .at(t)?: try data.put(args[1], StoredValue(payload: args[2], expiresAtMs: t))
            // An expiry time already past: the key is gone at once, as in Redis.
            case .past?: try data.delete(args[1])
            }
        }
        if get {
            if let old { out.bulk(old.payload) } else { out.null() }
        } else if apply {
            out.ok()
        } else {
            out.null()
        }
    }

    private func incr(_ key: [UInt8], by delta: Int64, _ out: inout RESPWriter) throws(CommandError) {
        var current: Int64 = 0
        let old = try data.stringEntry(key)
        if let old {
            guard let v = Self.parseInt64(old.payload) else { out.error("ERR value is not an integer or out of range"); return }
            current = v
        }
        let (sum, overflow) = current.addingReportingOverflow(delta)
        guard !overflow else { out.error("ERR increment or decrement would overflow"); return }
        try data.modify(key, Array(String(sum).utf8), keepingExpiryOf: old)
        out.integer(sum)
    }

    /// Strict decimal: optional '-', no '+', no spaces, no leading zeros (as Redis's string2ll).
    static func parseInt64<C: BidirectionalCollection>(_ b: C) -> Int64? where C.Element == UInt8, C.Index == Int {
        guard let first = b.first, b.count <= 20 else { return nil }
        if b.count == 1 && first == 48 { return 0 }
        var i = b.startIndex
        let negative = first == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < b.endIndex, b[i] >= 49, b[i] <= 57 else { return nil }
        var v: Int64 = 0
        while i < b.endIndex {
            let d = Int64(b[i]) - 48
            guard d >= 0 && d <= 9 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
            guard !o1 && !o2 else { return nil }
            v = a
            i += 1
        }
        return v
    }
}
