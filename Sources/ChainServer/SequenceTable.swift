/// Values under increasing ids (each id inserted is larger than every earlier one), most of them
/// removed soon after: reply slots, commit tokens. A window of entries from the oldest live id
/// on takes inserts and removals by index, with no hashing (a dictionary's cost about 150 to 300
/// instructions each, per write, in callgrind). An entry that stays while the window grows past
/// `maxWindow` (a request waiting on a stalled chain while others commit) moves to a dictionary,
/// so memory stays bounded by the live entries.
struct SequenceTable<Value> {
    /// The id of `window[head]`.
    private var base: UInt64 = 0
    private var window: [Value?] = []
    private var head = 0
    private var spilled: [UInt64: Value] = [:]
    private(set) var count = 0
    let maxWindow: Int

    init(maxWindow: Int = 1 << 16) { self.maxWindow = maxWindow }

    var isEmpty: Bool { count == 0 }

    /// The next id after all earlier ones.
    private var end: UInt64 { base + UInt64(window.count - head) }

    mutating func insert(_ value: Value, at id: UInt64) {
        if window.count == head {
            // Nothing in the window: it starts at this id.
            window.removeAll(keepingCapacity: true)
            head = 0
            base = id
        }
        precondition(id >= end, "SequenceTable ids must increase")
        while end < id { window.append(nil) }
        window.append(value)
        count += 1
        while window.count - head > maxWindow { spillOldest() }
    }

    subscript(id: UInt64) -> Value? {
        if id >= base && id < end { return window[head + Int(id - base)] }
        return spilled.isEmpty ? nil : spilled[id]
    }

    @discardableResult
    mutating func removeValue(forKey id: UInt64) -> Value? {
        let old: Value?
        if id >= base && id < end {
            let i = head + Int(id - base)
            old = window[i]
            window[i] = nil
        } else {
            old = spilled.isEmpty ? nil : spilled.removeValue(forKey: id)
        }
        if old != nil { count -= 1 }
        // The front moves past removed entries; the storage is reused once half of it is behind.
        while head < window.count && window[head] == nil {
            head += 1
            base += 1
        }
        if head > 1024 && head * 2 > window.count {
            window.removeFirst(head)
            head = 0
        }
        return old
    }

    private mutating func spillOldest() {
        if let v = window[head] { spilled[base] = v }
        window[head] = nil
        head += 1
        base += 1
    }
}
