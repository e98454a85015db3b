import Foundation
import XCTest

/// The files in deploy/ that are not exercised by the cluster tests: the systemd units must pass
/// `systemd-analyze verify` (run on copies that point at the built binaries).
final class DeployTests: XCTestCase {
    func testSystemdUnitsVerify() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let dir = Harness.tempDir("systemd")
        for (unit, as_) in [("chainmaster.service", "chainmaster.service"), ("chainserver@.service", "chainserver@n1.service")] {
            let text = try String(contentsOfFile: root + "/deploy/systemd/" + unit, encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/", with: URL(fileURLWithPath: Harness.binary("chainserver")).deletingLastPathComponent().path + "/")
            try text.write(toFile: dir + "/" + as_, atomically: true, encoding: .utf8)
            let r = try Harness.run("/usr/bin/env", ["systemd-analyze", "verify", "--man=no", dir + "/" + as_])
            XCTAssertEqual(r.code, 0, "\(unit): \(r.out) \(r.err)")
            XCTAssertEqual((r.out + r.err).trimmingCharacters(in: .whitespacesAndNewlines), "", "\(unit) has complaints")
        }
    }
}
