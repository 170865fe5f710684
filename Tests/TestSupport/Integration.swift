import Foundation
import Testing

extension Fixtures {
    /// True under `make check` (`OPENLEDGER_UNIT_ONLY=1`): tests that start processes or run Python are skipped.
    public static var unitOnly: Bool { ProcessInfo.processInfo.environment["OPENLEDGER_UNIT_ONLY"] == "1" }
}

extension Trait where Self == ConditionTrait {
    /// Marks a test that starts child processes or runs Python: `make test` runs it, `make check` leaves it out.
    public static var integration: Self {
        .enabled(if: !Fixtures.unitOnly, "integration test (child processes or Python): run by make test")
    }
}
