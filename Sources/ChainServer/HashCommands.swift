import ChainCore
import RESP
import Storage

/// HSET, HSETNX, HMSET, HGET, HMGET, HGETALL, HDEL, HEXISTS, HLEN, HINCRBY, HINCRBYFLOAT, HKEYS,
/// HVALS, HSTRLEN, HSCAN and HRANDFIELD, with Redis's replies and errors. A hash's value holds its field
/// count (and expiry); each field is a store key of its own (`KeyLayout.fieldKey`), so setting a
/// field writes that field and the count, never the whole hash. A hash whose last field goes
/// is deleted; an expired hash is gone, and a write to it starts a new one.
struct HashCommands {
    let data: any Keyspace

    func run(_ id: CommandID, _ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        let key = args[1]
        switch id {
        case .hset, .hmset:
            guard args.count % 2 == 0 else { return out.error("ERR wrong number of arguments for '\(id.name)' command") }
            let added = try set(key, stride(from: 2, to: args.count, by: 2).map { (args[$0], args[$0 + 1]) }, onlyNew: false)
            if id == .hmset { out.ok() } else { out.integer(added) }
        case .hsetnx:
            out.integer(try set(key, [(args[2], args[3])], onlyNew: true))
        case .hget:
            guard try hash(key, write: false) != nil, let v = try data.storedField(key, args[2]) else { return out.null() }
            out.bulk(v)
        case .hmget:
            let present = try hash(key, write: false) != nil
            out.arrayHeader(args.count - 2)
            for f in args.dropFirst(2) {
                if present, let v = try data.storedField(key, f) { out.bulk(v) } else { out.null() }
            }
        case .hgetall, .hkeys, .hvals:
            let fields = try hash(key, write: false) == nil ? [] : try data.storedFields(key)
            if id == .hgetall {
                out.mapHeader(fields.count)
                for f in fields { out.bulk(f.field); out.bulk(f.value) }
            } else {
                out.arrayHeader(fields.count)
                for f in fields { out.bulk(id == .hkeys ? f.field : f.value) }
            }
        case .hdel:
            try delete(key, Array(args.dropFirst(2)), &out)
        case .hexists:
            guard try hash(key, write: false) != nil else { return out.integer(0) }
            out.integer(try data.storedField(key, args[2]) != nil ? 1 : 0)
        case .hlen:
            out.integer(Int(try hash(key, write: false)?.fieldCount ?? 0))
        case .hstrlen:
            guard try hash(key, write: false) != nil else { return out.integer(0) }
            out.integer(try data.storedField(key, args[2])?.count ?? 0)
        case .hincrby:
            try incrBy(key, args[2], args[3], &out)
        case .hincrbyfloat:
            try incrByFloat(key, args[2], args[3], &out)
        case .hscan:
            try scan(args, &out)
        case .hrandfield:
            try randomFields(args, &out)
        default:
            preconditionFailure("not a hash command: \(id)")
        }
    }

    /// The hash at `key` if it exists now; `WRONGTYPE` for a string. For a write, an expired
    /// key is deleted first (fields included), so the write starts a new hash.
    private func hash(_ key: [UInt8], write: Bool) throws(CommandError) -> StoredValue? {
        guard let e = try data.storedEntry(key) else { return nil }
        guard e.isLive(nowMs: data.nowMs) else {
            if write { try data.delete(key) }
            return nil
        }
        guard e.type == .hash else { throw .wrongType }
        return e
    }

    /// Sets fields (only absent ones with `onlyNew`); returns how many were added.
    private func set(_ key: [UInt8], _ pairs: [([UInt8], [UInt8])], onlyNew: Bool) throws(CommandError) -> Int {
        let old = try hash(key, write: true)
        var count = old?.fieldCount ?? 0
        var added = 0
        var seen = Set<[UInt8]>()
        for (f, v) in pairs {
            var exists = seen.contains(f)
            if !exists, old != nil { exists = try data.storedField(key, f) != nil }
            if onlyNew && exists { continue }
            if !exists {
                added += 1
                count += 1
            }
            seen.insert(f)
            data.putField(key, f, v)
        }
        if added > 0 { data.putValue(key, StoredValue.hash(fields: count, expiresAtMs: old?.expiresAtMs)) }
        return added
    }

    private func delete(_ key: [UInt8], _ fields: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        guard let old = try hash(key, write: true) else { return out.integer(0) }
        var removed = 0
        for f in Set(fields) where try data.storedField(key, f) != nil {
            data.deleteField(key, f)
            removed += 1
        }
        let left = old.fieldCount - UInt64(removed)
        if removed > 0 {
            if left == 0 { data.deleteValue(key) } else { data.putValue(key, StoredValue.hash(fields: left, expiresAtMs: old.expiresAtMs)) }
        }
        out.integer(removed)
    }

    private func incrBy(_ key: [UInt8], _ field: [UInt8], _ by: [UInt8], _ out: inout RESPWriter) throws(CommandError) {
        guard let delta = StringCommands.parseInt64(by) else { return out.error("ERR value is not an integer or out of range") }
        let old = try hash(key, write: true)
        var current: Int64 = 0
        let existing = old == nil ? nil : try data.storedField(key, field)
        if let existing {
            guard let v = StringCommands.parseInt64(existing) else { return out.error("ERR hash value is not an integer") }
            current = v
        }
        let (sum, overflow) = current.addingReportingOverflow(delta)
        guard !overflow else { return out.error("ERR increment or decrement would overflow") }
        store(key, field, Array(String(sum).utf8), old: old, new: existing == nil)
        out.integer(sum)
    }

    private func incrByFloat(_ key: [UInt8], _ field: [UInt8], _ by: [UInt8], _ out: inout RESPWriter) throws(CommandError) {
        guard let delta = StringCommands.parseFloat(by) else { return out.error("ERR value is not a valid float") }
        let old = try hash(key, write: true)
        var current = 0.0
        let existing = old == nil ? nil : try data.storedField(key, field)
        if let existing {
            guard let v = StringCommands.parseFloat(existing) else { return out.error("ERR hash value is not a float") }
            current = v
        }
        let sum = current + delta
        guard sum.isFinite else { return out.error("ERR increment would produce NaN or Infinity") }
        let text = Array(StringCommands.formatFloat(sum).utf8)
        store(key, field, text, old: old, new: existing == nil)
        out.bulk(text)
    }

    /// Writes one field; a new field raises the count (creating the hash if needed).
    private func store(_ key: [UInt8], _ field: [UInt8], _ value: [UInt8], old: StoredValue?, new: Bool) {
        data.putField(key, field, value)
        if new { data.putValue(key, StoredValue.hash(fields: (old?.fieldCount ?? 0) + 1, expiresAtMs: old?.expiresAtMs)) }
    }

    /// HRANDFIELD key [count [WITHVALUES]]: one random field (nil for a missing key); with a
    /// count, that many distinct fields (all if fewer), or with a negative count that many
    /// picks that may repeat.
    private func randomFields(_ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        var count: Int64?
        var values = false
        if args.count >= 3 {
            guard let n = StringCommands.parseInt64(args[2]), n > Int64.min / 2, n < Int64.max / 2 else {
                return out.error("ERR value is not an integer or out of range")
            }
            count = n
        }
        if args.count == 4 {
            guard String(decoding: args[3], as: UTF8.self).uppercased() == "WITHVALUES" else { return out.error("ERR syntax error") }
            values = true
        }
        guard args.count <= 4 else { return out.error("ERR syntax error") }
        let fields = try hash(args[1], write: false) == nil ? [] : try data.storedFields(args[1])
        guard let count else {
            if let f = fields.randomElement() { out.bulk(f.field) } else { out.null() }
            return
        }
        let picks: [(field: [UInt8], value: [UInt8])]
        if fields.isEmpty || count == 0 {
            picks = []
        } else if count > 0 {
            picks = Array(fields.shuffled().prefix(Int(count)))
        } else {
            picks = (0..<Int(-count)).map { _ in fields.randomElement()! }
        }
        out.arrayHeader(picks.count * (values ? 2 : 1))
        for p in picks {
            out.bulk(p.field)
            if values { out.bulk(p.value) }
        }
    }

    /// HSCAN key cursor [MATCH pattern] [COUNT n] [NOVALUES]. A hash of up to
    /// `smallHashFields` fields (or no more than COUNT) comes whole in one reply with cursor 0,
    /// as Redis does for small hashes; a larger one in pages of COUNT fields in field order, the
    /// cursor naming where the next page starts (`HashScanCursors`): every field present for
    /// the whole scan is returned at least once, and no call reads more than COUNT fields.
    private func scan(_ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        guard let cursor = UInt64(String(decoding: args[2], as: UTF8.self)) else { return out.error("ERR invalid cursor") }
        var pattern: GlobPattern?
        var values = true
        var count = 10
        var i = 3
        while i < args.count {
            switch String(decoding: args[i], as: UTF8.self).uppercased() {
            case "MATCH" where i + 1 < args.count:
                pattern = GlobPattern(args[i + 1])
                i += 2
            case "COUNT" where i + 1 < args.count:
                guard let n = Int(String(decoding: args[i + 1], as: UTF8.self)) else { return out.error("ERR value is not an integer or out of range") }
                guard n >= 1 else { return out.error("ERR syntax error") }
                count = min(n, Self.maxScanCount)
                i += 2
            case "NOVALUES":
                values = false
                i += 1
            default:
                return out.error("ERR syntax error")
            }
        }
        let key = args[1]
        var after: [UInt8]?
        if cursor != 0 {
            guard let p = data.hashScans.position(cursor, key: key) else {
                return out.error("ERR chainstore: unknown HSCAN cursor for this key on this node (cursors last 10 minutes and belong to the node that gave them; the chain's tail may have changed): start the scan again with cursor 0")
            }
            after = p
        }
        let fields: [(field: [UInt8], value: [UInt8])]
        var next: UInt64 = 0
        if let h = try hash(key, write: false) {
            if after == nil && (h.fieldCount <= Self.smallHashFields || h.fieldCount <= UInt64(count)) {
                fields = try data.storedFields(key)
            } else {
                let page = try data.storedFields(key, after: after, limit: count)
                fields = page.fields
                if page.more, let last = page.fields.last { next = data.hashScans.make(key: key, after: last.field) }
            }
        } else {
            fields = []
        }
        let matching = fields.filter { pattern?.matches($0.field) ?? true }
        out.arrayHeader(2)
        out.bulk(String(next))
        out.arrayHeader(matching.count * (values ? 2 : 1))
        for f in matching {
            out.bulk(f.field)
            if values { out.bulk(f.value) }
        }
    }

    /// Redis answers a hash this small (a listpack) whole.
    static let smallHashFields: UInt64 = 128
    static let maxScanCount = 10_000
}
