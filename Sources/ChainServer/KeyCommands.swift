import ChainCore
import RESP
import Storage

/// TYPE, TOUCH, UNLINK, RENAME, RENAMENX and COPY, executed against a `Keyspace` of user keys
/// (every value is a string, possibly with an expiry, which RENAME and COPY carry along). The two-key commands need both keys in one chain, like every
/// multi-key command (`ChainNode.handle` answers `-CROSSSLOT` otherwise), so they are one atomic
/// update at that chain's head.
struct KeyCommands {
    let data: any Keyspace

    func run(_ id: CommandID, _ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        switch id {
        case .type:
            out.simple(try data.entry(args[1])?.type.name ?? "none")
        case .touch:
            var n = 0
            for k in args.dropFirst() where try data.entry(k) != nil { n += 1 }
            out.integer(n)
        case .unlink:
            var n = 0
            for k in args.dropFirst() {
                guard let e = try data.storedEntry(k) else { continue }
                try data.delete(k)
                if e.isLive(nowMs: data.nowMs) { n += 1 }
            }
            out.integer(n)
        case .rename, .renamenx:
            // The value moves with its expiry, as in Redis.
            guard let v = try data.entry(args[1]) else { return out.error("ERR no such key") }
            let nx = id == .renamenx
            if args[1] == args[2] { return nx ? out.integer(0) : out.ok() }
            if nx, try data.entry(args[2]) != nil { return out.integer(0) }
            try copyValue(args[1], v, to: args[2])
            try data.delete(args[1])
            if nx { out.integer(1) } else { out.ok() }
        case .copy:
            try copy(args, &out)
        default:
            // EVALSHA is turned into EVAL where it arrives; one that gets here (inside a
            // hand-made CS.EXEC) has no script to run.
            out.error(id == .evalsha ? "NOSCRIPT No matching script. Please use EVAL." : "ERR '\(id.name)' cannot run here")
        }
    }

    /// Writes `source`'s value `v` (and, for a hash, its fields) as `destination`, replacing
    /// what that held.
    private func copyValue(_ source: [UInt8], _ v: StoredValue, to destination: [UInt8]) throws(CommandError) {
        try data.put(destination, v)
        guard v.type == .hash else { return }
        for f in try data.storedFields(source) { data.putField(destination, f.field, f.value) }
    }

    /// COPY source destination [DB 0] [REPLACE].
    private func copy(_ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        var replace = false
        var i = 3
        while i < args.count {
            switch String(decoding: args[i], as: UTF8.self).uppercased() {
            case "REPLACE":
                replace = true
                i += 1
            case "DB" where i + 1 < args.count:
                guard args[i + 1] == [UInt8(ascii: "0")] else { return out.error("ERR Copying to another database is not allowed in cluster mode") }
                i += 2
            default:
                return out.error("ERR syntax error")
            }
        }
        if args[1] == args[2] { return out.error("ERR source and destination objects are the same") }
        guard let v = try data.entry(args[1]) else { return out.integer(0) }
        if !replace, try data.entry(args[2]) != nil { return out.integer(0) }
        try copyValue(args[1], v, to: args[2])
        out.integer(1)
    }
}
