import ArgumentParser
import ChainClient
import ChainCore
import Foundation
import RESP

/// Prints a reply like redis-cli does; an error reply is a failure.
func show(_ v: RESPValue, json: Bool) throws {
    if case let .error(e) = v { throw CtlError(e) }
    if json {
        switch v {
        case .bulk(nil), .null: try printJSON(["value": String?.none])
        case let .integer(i): try printJSON(["value": i])
        default: try printJSON(["value": v.string ?? "\(v)"])
        }
        return
    }
    switch v {
    case .bulk(nil), .null: print("(nil)")
    case let .integer(i): print(i)
    default: print(v.string ?? "\(v)")
    }
}

/// Runs one command through the smart client (routed to the chain's head or tail).
func runData(_ m: MasterOption, _ args: String..., json: Bool) throws {
    let c = try m.client()
    do { try show(try c.execute(args.map { Array($0.utf8) }), json: json) } catch let e as ClusterClient.Failure { throw CtlError("\(e)") }
}

struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Read a key (from its chain's tail).")
    @OptionGroup var m: MasterOption
    @Argument var key: String
    @Flag(help: "Print as JSON.") var json = false
    func run() throws { try runData(m, "GET", key, json: json) }
}

struct SetKey: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set", abstract: "Write a key (at its chain's head; answered once committed at the tail).")
    @OptionGroup var m: MasterOption
    @Argument var key: String
    @Argument var value: String
    @Flag(help: "Print as JSON.") var json = false
    func run() throws { try runData(m, "SET", key, value, json: json) }
}

struct Del: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a key.")
    @OptionGroup var m: MasterOption
    @Argument var key: String
    @Flag(help: "Print as JSON.") var json = false
    func run() throws { try runData(m, "DEL", key, json: json) }
}

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List keys (and values), chain by chain, from each chain's tail.",
        discussion: "Each chain is read in batches of committed data; the whole listing is not one snapshot (writes during the scan may or may not appear). Keys are in storage order, not sorted.")
    @OptionGroup var m: MasterOption
    @Option(help: "Only keys starting with this prefix.") var prefix: String = ""
    @Option(help: "Stop after this many keys.") var limit: Int?
    @Flag(help: "Print values too (key, a tab, the value).") var values = false
    @Flag(help: "Print a JSON array of {key, value}.") var json = false

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be positive") }
    }

    func run() throws {
        let c = try m.client()
        guard let chains = c.config?.chains.count else { throw CtlError("the master has no chain table yet") }
        let want = Array(prefix.utf8)
        var found: [(String, String)] = []
        scan: for chain in 0..<chains {
            var cursor: [UInt8] = []
            repeat {
                let reply: RESPValue
                do { reply = try c.executeAtTail(of: chain, [Array("CS.SCAN".utf8), Array(String(chain).utf8), cursor, Array("500".utf8)]) }
                catch { throw CtlError("scanning chain \(chain): \(error)") }
                if case let .error(e) = reply { throw CtlError("scanning chain \(chain): \(e)") }
                guard case let .array(parts?) = reply, parts.count == 2, case let .bulk(next?) = parts[0],
                      case let .array(flat?) = parts[1] else { throw CtlError("scanning chain \(chain): unexpected reply \(reply)") }
                var i = 0
                while i + 1 < flat.count {
                    if case let .bulk(k?) = flat[i], case let .bulk(v?) = flat[i + 1], k.starts(with: want) {
                        found.append((String(decoding: k, as: UTF8.self), String(decoding: v, as: UTF8.self)))
                        if !json { print(values ? "\(found.last!.0)\t\(found.last!.1)" : found.last!.0) }
                        if let limit, found.count >= limit { break scan }
                    }
                    i += 2
                }
                cursor = next
            } while !cursor.isEmpty
        }
        if json { try printJSON(found.map { ["key": $0.0, "value": $0.1] }) }
    }
}
