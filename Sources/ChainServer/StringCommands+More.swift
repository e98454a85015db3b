import Foundation
import RESP
import Storage

/// GETDEL, GETSET, SETNX, MSETNX, GETRANGE/SUBSTR, SETRANGE, INCRBYFLOAT and LCS, with Redis's
/// replies and errors. Like every write, the head computes the result and the chain replicates
/// the resulting value, so a float increment is the same bytes on every replica.
extension StringCommands {
    func runMore(_ id: CommandID, _ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        switch id {
        case .getdel:
            guard let e = try data.stringEntry(args[1]) else { return out.null() }
            try data.delete(args[1])
            out.bulk(e.payload)
        case .getset:
            let old = try data.stringEntry(args[1])
            try data.put(args[1], args[2])
            if let old { out.bulk(old.payload) } else { out.null() }
        case .setnx:
            if try data.entry(args[1]) != nil { return out.integer(0) }
            try data.put(args[1], args[2])
            out.integer(1)
        case .msetnx:
            guard args.count % 2 == 1 else { return out.error("ERR wrong number of arguments for 'msetnx' command") }
            for i in stride(from: 1, to: args.count, by: 2) where try data.entry(args[i]) != nil { return out.integer(0) }
            for i in stride(from: 1, to: args.count, by: 2) { try data.put(args[i], args[i + 1]) }
            out.integer(1)
        case .getrange, .substr:
            guard let start = Self.parseInt64(args[2]), let end = Self.parseInt64(args[3]) else {
                return out.error("ERR value is not an integer or out of range")
            }
            let v = try data.get(args[1]) ?? []
            out.bulk(Self.range(of: v, start, end))
        case .setrange:
            try setRange(args, &out)
        case .incrbyfloat:
            try incrByFloat(args, &out)
        case .lcs:
            try lcs(args, &out)
        default:
            preconditionFailure("not a string command: \(id)")
        }
    }

    /// Redis's GETRANGE: negative offsets count from the end, both ends inclusive and clamped.
    static func range(of v: [UInt8], _ start: Int64, _ end: Int64) -> [UInt8] {
        let n = Int64(v.count)
        guard n > 0, !(start < 0 && end < 0 && start > end) else { return [] }
        var s = start < 0 ? max(0, n + start) : start
        var e = end < 0 ? max(0, n + end) : end
        if e >= n { e = n - 1 }
        if s < 0 { s = 0 }
        guard s <= e else { return [] }
        return Array(v[Int(s)...Int(e)])
    }

    private func setRange(_ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        guard let offset = Self.parseInt64(args[2]), offset >= 0 else { return out.error("ERR offset is out of range") }
        let piece = args[3]
        let old = try data.stringEntry(args[1])
        if piece.isEmpty { return out.integer(old?.payloadCount ?? 0) }
        guard offset + Int64(piece.count) <= Int64(maxValueBytes) else {
            return out.error("ERR string exceeds maximum allowed size (--max-value-bytes \(maxValueBytes))")
        }
        let o = Int(offset)
        var bytes = old.map { Array($0.payload) } ?? []
        if bytes.count < o + piece.count { bytes += [UInt8](repeating: 0, count: o + piece.count - bytes.count) }
        bytes.replaceSubrange(o..<(o + piece.count), with: piece)
        try data.modify(args[1], bytes, keepingExpiryOf: old)
        out.integer(bytes.count)
    }

    private func incrByFloat(_ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        guard let by = Self.parseFloat(args[2]) else { return out.error("ERR value is not a valid float") }
        var current = 0.0
        let old = try data.stringEntry(args[1])
        if let old {
            guard let c = Self.parseFloat(Array(old.payload)) else { return out.error("ERR value is not a valid float") }
            current = c
        }
        let sum = current + by
        guard sum.isFinite else { return out.error("ERR increment would produce NaN or Infinity") }
        let text = Array(Self.formatFloat(sum).utf8)
        try data.modify(args[1], text, keepingExpiryOf: old)
        out.bulk(text)
    }

    /// A float as Redis accepts one: no spaces, no NaN, finite.
    static func parseFloat(_ b: [UInt8]) -> Double? {
        guard !b.isEmpty, b.count <= 64, b.first != 0x20, b.last != 0x20, let d = Double(String(decoding: b, as: UTF8.self)),
              d.isFinite else { return nil }
        return d
    }

    /// Shortest round-tripping decimal without an exponent for everyday magnitudes, and no
    /// trailing ".0" (as Redis prints INCRBYFLOAT results).
    static func formatFloat(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e17 { return String(Int64(d)) }
        let s = "\(d)"
        guard s.contains("e") else { return s }
        return String(format: "%.17g", d)
    }

    /// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN], as Redis computes it (the same
    /// walk back through the table, so IDX lists the same ranges in the same order).
    private func lcs(_ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        var wantLen = false, wantIdx = false, withMatchLen = false
        var minMatch = 0
        var i = 3
        while i < args.count {
            switch String(decoding: args[i], as: UTF8.self).uppercased() {
            case "LEN": wantLen = true
            case "IDX": wantIdx = true
            case "WITHMATCHLEN": withMatchLen = true
            case "MINMATCHLEN" where i + 1 < args.count:
                guard let n = Self.parseInt64(args[i + 1]) else { return out.error("ERR value is not an integer or out of range") }
                minMatch = max(0, Int(clamping: n))
                i += 1
            default: return out.error("ERR syntax error")
            }
            i += 1
        }
        if wantLen && wantIdx { return out.error("ERR If you want both the length and indexes, please just use IDX.") }
        let a = try data.get(args[1]) ?? [], b = try data.get(args[2]) ?? []
        // The table is (|a|+1)·(|b|+1) entries and filled on the event loop: bounded.
        guard (a.count + 1) * (b.count + 1) <= Self.lcsMaxCells else {
            return out.error("ERR chainstore computes LCS of strings up to \(Self.lcsMaxCells) table cells (|a|+1)*(|b|+1)")
        }
        let w = b.count + 1
        var t = [UInt32](repeating: 0, count: (a.count + 1) * w)
        for x in stride(from: 1, through: a.count, by: 1) {
            for y in stride(from: 1, through: b.count, by: 1) {
                t[x * w + y] = a[x - 1] == b[y - 1] ? t[(x - 1) * w + y - 1] + 1 : max(t[(x - 1) * w + y], t[x * w + y - 1])
            }
        }
        let length = Int(t[a.count * w + b.count])
        if wantLen { return out.integer(length) }
        var result = [UInt8](repeating: 0, count: length)
        var matches: [(a: ClosedRange<Int>, b: ClosedRange<Int>)] = []
        var x = a.count, y = b.count, k = length
        var aStart = a.count, aEnd = 0, bStart = 0, bEnd = 0
        while x > 0 && y > 0 {
            var emit = false
            if a[x - 1] == b[y - 1] {
                result[k - 1] = a[x - 1]
                if aStart == a.count {
                    (aStart, aEnd, bStart, bEnd) = (x - 1, x - 1, y - 1, y - 1)
                } else if aStart == x && bStart == y {
                    aStart -= 1
                    bStart -= 1
                } else {
                    emit = true
                }
                if aStart == 0 || bStart == 0 { emit = true }
                k -= 1; x -= 1; y -= 1
            } else {
                if t[(x - 1) * w + y] > t[x * w + y - 1] { x -= 1 } else { y -= 1 }
                if aStart != a.count { emit = true }
            }
            if emit {
                if minMatch == 0 || aEnd - aStart + 1 >= minMatch { matches.append((aStart...aEnd, bStart...bEnd)) }
                aStart = a.count
            }
        }
        guard wantIdx else { return out.bulk(result) }
        out.mapHeader(2)
        out.bulk("matches")
        out.arrayHeader(matches.count)
        for m in matches {
            out.arrayHeader(withMatchLen ? 3 : 2)
            out.arrayHeader(2); out.integer(m.a.lowerBound); out.integer(m.a.upperBound)
            out.arrayHeader(2); out.integer(m.b.lowerBound); out.integer(m.b.upperBound)
            if withMatchLen { out.integer(m.a.count) }
        }
        out.bulk("len")
        out.integer(length)
    }

    static let lcsMaxCells = 16 << 20
}
