import ChainCore
import RESP
import Storage

/// GET, SET and the other string commands, executed against a `Keyspace` of user keys.
struct StringCommands {
    let data: any Keyspace
    let maxValueBytes: Int

    func run(_ id: CommandID, _ args: [[UInt8]], _ out: inout RESPWriter) throws(StoreError) {
        switch id {
        case .get:
            if let v = try data.get(args[1]) { out.bulk(v) } else { out.null() }
        case .set:
            try set(args, &out)
        case .del:
            var n = 0
            for k in args.dropFirst() {
                let dk = k
                if try data.get(dk) != nil { data.delete(dk); n += 1 }
            }
            out.integer(n)
        case .exists:
            var n = 0
            for k in args.dropFirst() where try data.get(k) != nil { n += 1 }
            out.integer(n)
        case .mget:
            out.arrayHeader(args.count - 1)
            for k in args.dropFirst() {
                if let v = try data.get(k) { out.bulk(v) } else { out.null() }
            }
        case .mset:
            guard args.count % 2 == 1 else { out.error("ERR wrong number of arguments for 'mset' command"); return }
            for i in stride(from: 1, to: args.count, by: 2) { data.put(args[i], args[i + 1]) }
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
            let dk = args[1]
            let old = try data.get(dk) ?? []
            guard old.count + args[2].count <= maxValueBytes else {
                out.error("ERR string exceeds maximum allowed size (--max-value-bytes \(maxValueBytes))")
                return
            }
            let new = old + args[2]
            data.put(dk, new)
            out.integer(new.count)
        case .strlen:
            out.integer(try data.get(args[1])?.count ?? 0)
        case .memory:
            // MEMORY USAGE: the key and value bytes plus what an entry costs in the store and its
            // indexes (about; RocksDB compresses and shares blocks).
            if let v = try data.get(args[2]) { out.integer(args[2].count + v.count + Self.entryOverheadBytes) } else { out.null() }
        case .getdel, .getset, .setnx, .msetnx, .getrange, .substr, .setrange, .incrbyfloat, .lcs:
            try runMore(id, args, &out)
        default:
            try KeyCommands(data: data).run(id, args, &out)
        }
    }

    /// About what one key costs beyond its bytes: the store's internal key (sequence, type, slot
    /// prefix) and index entries.
    static let entryOverheadBytes = 48

    /// SET key value [NX|XX] [GET] [KEEPTTL]. Expiry options are refused: chainstore keys do not
    /// expire.
    private func set(_ args: [[UInt8]], _ out: inout RESPWriter) throws(StoreError) {
        var nx = false, xx = false, get = false
        for raw in args.dropFirst(3) {
            switch String(decoding: raw, as: UTF8.self).uppercased() {
            case "NX": nx = true
            case "XX": xx = true
            case "GET": get = true
            case "KEEPTTL": break
            case "EX", "PX", "EXAT", "PXAT":
                out.error("ERR chainstore does not support key expiry (EX/PX/EXAT/PXAT)")
                return
            default:
                out.error("ERR syntax error")
                return
            }
        }
        if nx && xx { out.error("ERR syntax error"); return }
        let dk = args[1]
        let needOld = nx || xx || get
        let old = needOld ? try data.get(dk) : nil
        let apply = (!nx || old == nil) && (!xx || old != nil)
        if apply { data.put(dk, args[2]) }
        if get {
            if let old { out.bulk(old) } else { out.null() }
        } else if apply {
            out.ok()
        } else {
            out.null()
        }
    }

    private func incr(_ key: [UInt8], by delta: Int64, _ out: inout RESPWriter) throws(StoreError) {
        let dk = key
        var current: Int64 = 0
        if let old = try data.get(dk) {
            guard let v = Self.parseInt64(old) else { out.error("ERR value is not an integer or out of range"); return }
            current = v
        }
        let (sum, overflow) = current.addingReportingOverflow(delta)
        guard !overflow else { out.error("ERR increment or decrement would overflow"); return }
        data.put(dk, Array(String(sum).utf8))
        out.integer(sum)
    }

    /// Strict decimal: optional '-', no '+', no spaces, no leading zeros (as Redis's string2ll).
    static func parseInt64(_ b: [UInt8]) -> Int64? {
        guard !b.isEmpty, b.count <= 20 else { return nil }
        if b == [48] { return 0 }
        var i = 0
        let negative = b[0] == UInt8(ascii: "-")
        if negative { i = 1 }
        guard i < b.count, b[i] >= 49, b[i] <= 57 else { return nil }
        var v: Int64 = 0
        while i < b.count {
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
