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
