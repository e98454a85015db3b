import ChainCore
import RESP

/// OBJECT and SORT for the types chainstore stores.
///
/// OBJECT ENCODING names the encoding Redis 7 would give the same value under its default limits
/// (`int`, `embstr`, `raw`; `listpack` or `hashtable`), which is what clients and tools compare
/// against; chainstore stores every value the same way (`StoredValue`). It keeps no access
/// statistics: IDLETIME answers 0 and FREQ the error Redis gives without an LFU policy.
///
/// SORT and SORT_RO sort lists, sets and sorted sets, none of which chainstore has: a missing key
/// sorts to nothing (with STORE, the destination is deleted and 0 answered), a string or a hash
/// is `WRONGTYPE`, as in Redis. The options are checked as Redis checks them.
struct ObjectSortCommands {
    let data: any Keyspace

    static let listpackMaxEntries: UInt64 = 128
    static let listpackMaxValue = 64
    static let embstrMax = 44

    /// OBJECT HELP (it names no key, so the server answers it before routing).
    static func help(_ out: inout RESPWriter) {
        let lines = ["OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                     "ENCODING <key>", "    Return the kind of internal representation Redis would use for the value of <key>.",
                     "FREQ <key>", "    Refused: chainstore keeps no access frequencies.",
                     "IDLETIME <key>", "    Always 0: chainstore keeps no access times.",
                     "REFCOUNT <key>", "    Always 1.",
                     "HELP", "    Print this help."]
        out.arrayHeader(lines.count)
        for l in lines { out.simple(l) }
    }

    func run(_ id: CommandID, _ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        switch id {
        case .object: try object(args, &out)
        default: try sort(id, args, &out)
        }
    }

    private func object(_ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        let sub = String(decoding: args[1].prefix(16), as: UTF8.self).uppercased()
        guard let e = try data.entry(args[2]) else { return out.null() }
        switch sub {
        case "ENCODING":
            switch e.type {
            case .string:
                let v = e.payload
                if v.count <= 20, StringCommands.parseInt64(Array(v)) != nil { return out.bulk(Array("int".utf8)) }
                out.bulk(Array((v.count <= Self.embstrMax ? "embstr" : "raw").utf8))
            case .hash:
                var small = e.fieldCount <= Self.listpackMaxEntries
                if small {
                    small = try data.storedFields(args[2]).allSatisfy { $0.field.count <= Self.listpackMaxValue && $0.value.count <= Self.listpackMaxValue }
                }
                out.bulk(Array((small ? "listpack" : "hashtable").utf8))
            }
        case "REFCOUNT": out.integer(1)
        case "IDLETIME": out.integer(0)
        default:
            out.error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
        }
    }

    /// SORT key [BY pattern] [LIMIT offset count] [GET pattern …] [ASC|DESC] [ALPHA] [STORE destination]
    private func sort(_ id: CommandID, _ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        var store: [UInt8]?
        var i = 2
        while i < args.count {
            switch String(decoding: args[i].prefix(16), as: UTF8.self).uppercased() {
            case "ASC", "DESC", "ALPHA": i += 1
            case "BY" where i + 1 < args.count, "GET" where i + 1 < args.count: i += 2
            case "LIMIT" where i + 2 < args.count:
                guard StringCommands.parseInt64(args[i + 1]) != nil, StringCommands.parseInt64(args[i + 2]) != nil else {
                    return out.error("ERR value is not an integer or out of range")
                }
                i += 3
            case "STORE" where i + 1 < args.count && id == .sort:
                store = args[i + 1]
                i += 2
            default:
                return out.error("ERR syntax error")
            }
        }
        if try data.entry(args[1]) != nil { throw .wrongType }
        guard let destination = store else { return out.arrayHeader(0) }
        if try data.storedEntry(destination) != nil { try data.delete(destination) }
        out.integer(0)
    }
}
