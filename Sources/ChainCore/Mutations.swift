/// An update's mutations, in order. Nearly every update holds exactly one (a SET, a DEL of one
/// key, an INCR), and that one is kept inline in the update: an array would be a heap
/// allocation per update on every replica. Two or more go into an array.
public struct Mutations: Sendable, Hashable, RandomAccessCollection, ExpressibleByArrayLiteral {
    private enum Storage: Sendable, Hashable {
        case none
        case one(Mutation)
        case many([Mutation])
    }

    /// Canonical: `.none` for zero, `.one` for one, `.many` only for two or more, so the
    /// synthesized equality and hashing agree with comparing the elements.
    private var storage: Storage

    public init() { storage = .none }

    public init(_ mutations: [Mutation]) {
        switch mutations.count {
        case 0: storage = .none
        case 1: storage = .one(mutations[0])
        default: storage = .many(mutations)
        }
    }

    public init(_ mutation: Mutation) { storage = .one(mutation) }

    public init(arrayLiteral elements: Mutation...) { self.init(elements) }

    public mutating func append(_ m: Mutation) {
        switch storage {
        case .none: storage = .one(m)
        case let .one(first): storage = .many([first, m])
        case var .many(all):
            // Out of `storage` first, so the array is uniquely referenced and grows in place.
            storage = .none
            all.append(m)
            storage = .many(all)
        }
    }

    /// The only mutation, if there is exactly one.
    public var single: Mutation? {
        if case let .one(m) = storage { return m }
        return nil
    }

    /// About how many bytes the mutations hold (`Update.byteEstimate`).
    var byteEstimate: Int {
        switch storage {
        case .none: return 0
        case let .one(m): return m.byteEstimate
        case let .many(all):
            var n = 0
            for m in all { n += m.byteEstimate }
            return n
        }
    }

    public var startIndex: Int { 0 }

    public var endIndex: Int {
        switch storage {
        case .none: return 0
        case .one: return 1
        case let .many(all): return all.count
        }
    }

    public subscript(position: Int) -> Mutation {
        switch storage {
        case let .one(m):
            precondition(position == 0, "Mutations index \(position) out of range")
            return m
        case let .many(all): return all[position]
        case .none: preconditionFailure("Mutations index \(position) out of range")
        }
    }
}

extension Mutations: CustomStringConvertible {
    public var description: String { Array(self).description }
}
