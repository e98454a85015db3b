/// What a new configuration changed, in a few words an operator reads at a glance ("n2 left 9
/// chains; 3 tails moved"): for event marks on load plots and timelines.
public enum ConfigurationChange {
    public static func summary(from old: Configuration?, to new: Configuration) -> String {
        guard let old else { return "first table: \(new.chains.count) chains on \(new.nodes.count) nodes" }
        var parts: [String] = []
        let oldByID = Dictionary(old.chains.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var left: [NodeID: Int] = [:], joined: [NodeID: Int] = [:], copying: [NodeID: Int] = [:]
        var heads = 0, tails = 0, frozen = 0, thawed = 0
        for c in new.chains {
            guard let o = oldByID[c.id] else { continue }
            for m in o.members where !c.members.contains(m) { left[m, default: 0] += 1 }
            for m in c.members where !o.members.contains(m) { joined[m, default: 0] += 1 }
            if let j = c.joining, j != o.joining { copying[j, default: 0] += 1 }
            if c.head != o.head && o.members.contains(c.head ?? "") { heads += 1 }
            if c.tail != o.tail && o.members.contains(c.tail ?? "") { tails += 1 }
            if c.frozen != nil && o.frozen == nil { frozen += 1 }
            if c.frozen == nil && o.frozen != nil { thawed += 1 }
        }
        func each(_ counts: [NodeID: Int], _ verb: String) {
            for (n, k) in counts.sorted(by: { $0.key < $1.key }) { parts.append("\(n) \(verb) \(k) chain\(k == 1 ? "" : "s")") }
        }
        each(left, "left")
        each(copying, "copying")
        each(joined, "joined")
        if heads > 0 { parts.append("\(heads) head\(heads == 1 ? "" : "s") moved") }
        if tails > 0 { parts.append("\(tails) tail\(tails == 1 ? "" : "s") moved") }
        if frozen > 1 && frozen == new.chains.count { parts.append("every chain paused (a cluster stop)") }
        else if frozen > 0 { parts.append("\(frozen) chain\(frozen == 1 ? "" : "s") paused to reorder") }
        if thawed > 1 && thawed == new.chains.count { parts.append("every chain resumed") }
        let oldNodes = Set(old.nodes.map(\.id)), newNodes = Set(new.nodes.map(\.id))
        for n in newNodes.subtracting(oldNodes).sorted() { parts.append("\(n) added") }
        for n in oldNodes.subtracting(newNodes).sorted() { parts.append("\(n) removed") }
        for n in new.nodes where oldNodes.contains(n.id) && old.node(n.id) != n { parts.append("\(n.id) moved address") }
        return parts.isEmpty ? "no chain change" : parts.joined(separator: "; ")
    }
}
