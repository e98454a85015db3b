import ChainCore
import RESP

/// DUMP and RESTORE in Redis's payload format (`RedisDump`), so values move between chainstore
/// and Redis: a payload from `DUMP` on Redis restores here (strings, and hashes in any of
/// Redis's encodings) and one from here restores on Redis 5 or later. RESTORE runs at the key's
/// head like any write; the head turns a relative TTL into an absolute expiry.
struct DumpCommands {
    let data: any Keyspace

    func run(_ id: CommandID, _ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        switch id {
        case .dump:
            guard let e = try data.entry(args[1]) else { return out.null() }
            switch e.type {
            case .string: out.bulk(RedisDump.encode(.string(Array(e.payload))))
            case .hash: out.bulk(RedisDump.encode(.hash(try data.storedFields(args[1]).flatMap { [$0.field, $0.value] })))
            }
        default:
            try restore(args, &out)
        }
    }

    /// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency].
    /// IDLETIME and FREQ are checked and ignored (chainstore keeps no access statistics).
    private func restore(_ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        guard let ttl = StringCommands.parseInt64(args[2]) else { return out.error("ERR value is not an integer or out of range") }
        guard ttl >= 0 else { return out.error("ERR Invalid TTL value, must be >= 0") }
        var replace = false, absolute = false, idle = false, freq = false
        var i = 4
        while i < args.count {
            switch String(decoding: args[i].prefix(16), as: UTF8.self).uppercased() {
            case "REPLACE": replace = true
            case "ABSTTL": absolute = true
            case "IDLETIME" where i + 1 < args.count && !freq:
                guard let v = StringCommands.parseInt64(args[i + 1]) else { return out.error("ERR value is not an integer or out of range") }
                guard v >= 0 else { return out.error("ERR Invalid IDLETIME value, must be >= 0") }
                idle = true
                i += 1
            case "FREQ" where i + 1 < args.count && !idle:
                guard let v = StringCommands.parseInt64(args[i + 1]) else { return out.error("ERR value is not an integer or out of range") }
                guard (0...255).contains(v) else { return out.error("ERR Invalid FREQ value, must be >= 0 and <= 255") }
                freq = true
                i += 1
            default:
                return out.error("ERR syntax error")
            }
            i += 1
        }
        let value: RedisDump.Value
        do { value = try RedisDump.decode(args[3]) } catch {
            switch error {
            case .versionOrChecksum: return out.error("ERR DUMP payload version or checksum are wrong")
            case let .unsupportedType(family): return out.error("ERR chainstore does not support \(family) yet: cannot RESTORE \(error) (Docs/COMPATIBILITY.md)")
            case .malformed: return out.error("ERR Bad data format: \(error)")
            }
        }
        let existing = try data.storedEntry(args[1])
        if let existing, existing.isLive(nowMs: data.nowMs), !replace { return out.error("BUSYKEY Target key name already exists.") }
        var expiresAt: UInt64?
        if ttl > 0 {
            let (t, overflow) = absolute ? (ttl, false) : ttl.addingReportingOverflow(Int64(clamping: data.nowMs))
            guard !overflow else { return out.error("ERR Invalid TTL value, must be >= 0") }
            expiresAt = UInt64(t)
        }
        if existing != nil { try data.delete(args[1]) }
        // A payload whose expiry has passed replaces the key by nothing, as in Redis.
        if let t = expiresAt, t <= data.nowMs { return out.ok() }
        switch value {
        case let .string(s):
            try data.put(args[1], StoredValue(payload: s, expiresAtMs: expiresAt))
        case let .hash(pairs):
            data.putValue(args[1], StoredValue.hash(fields: UInt64(pairs.count / 2), expiresAtMs: expiresAt))
            for j in stride(from: 0, to: pairs.count, by: 2) { data.putField(args[1], pairs[j], pairs[j + 1]) }
        }
        out.ok()
    }
}
