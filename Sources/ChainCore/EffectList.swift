/// The effects a core returns, in order: a growable list with value semantics, like an array,
/// that its executor empties by moving each element out (`drain`). An array cannot be emptied
/// that way: its elements must be destroyed where they lie, so an executor moving them out had
/// to put a stand-in in each slot and have the array destroy the stand-ins through the element
/// type's generic witness (callgrind: about 150 instructions an effect, three or four effects a
/// write and node).
public struct EffectList<Element>: RandomAccessCollection, ExpressibleByArrayLiteral {
    /// Nil until the first element: an empty list costs no allocation.
    private var buffer: Buffer?

    public init() {}

    public init(_ elements: some Sequence<Element>) {
        self.init()
        for e in elements { append(e) }
    }

    public init(arrayLiteral elements: Element...) { self.init(elements) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { buffer?.count ?? 0 }

    public subscript(position: Int) -> Element {
        precondition(position >= 0 && position < endIndex, "EffectList index \(position) out of range")
        return buffer!.base[position]
    }

    public mutating func append(_ element: consuming Element) {
        // (Uniqueness is asked before any local reference to the buffer exists: one would make
        // the answer always no.)
        if buffer == nil {
            buffer = Buffer(capacity: 8)
        } else if !isKnownUniquelyReferenced(&buffer) {
            buffer = buffer!.copy(capacity: Swift.max(buffer!.capacity, 2 * buffer!.count))
        } else if buffer!.count == buffer!.capacity {
            buffer!.grow(to: 2 * buffer!.capacity)
        }
        let b = buffer!
        (b.base + b.count).initialize(to: element)
        b.count += 1
    }

    public mutating func append(contentsOf elements: some Sequence<Element>) {
        for e in elements { append(e) }
    }

    /// Hands every element to `body` in order, moved out, and leaves the list empty with its
    /// storage kept.
    public mutating func drain(_ body: (consuming Element) -> Void) {
        guard buffer != nil else { return }
        if !isKnownUniquelyReferenced(&buffer) {
            // Shared with a copy, which keeps the elements: this list hands over copies.
            let shared = buffer!
            buffer = nil
            for i in 0..<shared.count { body(shared.base[i]) }
            return
        }
        // `count` is cleared first: the elements are then moved out one by one, and none may
        // be destroyed again by the buffer.
        let b = buffer!
        let n = b.count
        b.count = 0
        for i in 0..<n { body((b.base + i).move()) }
    }

    public mutating func removeAll() {
        guard buffer != nil else { return }
        if isKnownUniquelyReferenced(&buffer) {
            buffer!.base.deinitialize(count: buffer!.count)
            buffer!.count = 0
        } else {
            buffer = nil
        }
    }

    /// The storage: `count` initialized elements at `base`, room for `capacity`.
    private final class Buffer {
        var base: UnsafeMutablePointer<Element>
        var count = 0
        var capacity: Int

        init(capacity: Int) {
            self.capacity = capacity
            base = UnsafeMutablePointer<Element>.allocate(capacity: capacity)
        }

        func copy(capacity: Int) -> Buffer {
            let new = Buffer(capacity: capacity)
            new.base.initialize(from: base, count: count)
            new.count = count
            return new
        }

        func grow(to newCapacity: Int) {
            let new = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
            new.moveInitialize(from: base, count: count)
            base.deallocate()
            base = new
            capacity = newCapacity
        }

        deinit {
            base.deinitialize(count: count)
            base.deallocate()
        }
    }
}

extension EffectList: Equatable where Element: Equatable {
    public static func == (a: EffectList, b: EffectList) -> Bool { a.elementsEqual(b) }
}

extension EffectList: CustomStringConvertible {
    public var description: String { Array(self).description }
}
