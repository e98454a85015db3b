/// Splits an inline command line the way redis-cli and Redis do (sdssplitargs): words separated
/// by blanks, "double quotes" with \n \r \t \b \a \\ \" and \xHH escapes, 'single quotes' with \'.
enum InlineSplitter {
    static func split(_ line: ArraySlice<UInt8>) throws(RESPProtocolError) -> [[UInt8]] {
        var words: [[UInt8]] = []
        var i = line.startIndex
        let end = line.endIndex
        func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 || c == 13 || c == 11 || c == 12 }
        while true {
            while i < end && isSpace(line[i]) { i += 1 }
            if i >= end { return words }
            var word: [UInt8] = []
            var inDouble = false
            var inSingle = false
            var done = false
            while !done {
                if inDouble {
                    guard i < end else { throw .unbalancedQuotes }
                    let c = line[i]
                    if c == 92 && i + 3 < end && line[i + 1] == UInt8(ascii: "x"),
                       let h = hex(line[i + 2]), let l = hex(line[i + 3]) {
                        word.append(h << 4 | l)
                        i += 3
                    } else if c == 92 && i + 1 < end {
                        i += 1
                        switch line[i] {
                        case UInt8(ascii: "n"): word.append(10)
                        case UInt8(ascii: "r"): word.append(13)
                        case UInt8(ascii: "t"): word.append(9)
                        case UInt8(ascii: "b"): word.append(8)
                        case UInt8(ascii: "a"): word.append(7)
                        default: word.append(line[i])
                        }
                    } else if c == 34 {
                        // A closing quote must be followed by a blank or the end.
                        if i + 1 < end && !isSpace(line[i + 1]) { throw .unbalancedQuotes }
                        done = true
                    } else {
                        word.append(c)
                    }
                } else if inSingle {
                    guard i < end else { throw .unbalancedQuotes }
                    let c = line[i]
                    if c == 92 && i + 1 < end && line[i + 1] == 39 {
                        i += 1
                        word.append(39)
                    } else if c == 39 {
                        if i + 1 < end && !isSpace(line[i + 1]) { throw .unbalancedQuotes }
                        done = true
                    } else {
                        word.append(c)
                    }
                } else {
                    if i >= end { done = true; break }
                    let c = line[i]
                    if isSpace(c) { done = true }
                    else if c == 34 && word.isEmpty { inDouble = true }
                    else if c == 39 && word.isEmpty { inSingle = true }
                    else { word.append(c) }
                }
                if i < end { i += 1 }
            }
            words.append(word)
        }
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}
