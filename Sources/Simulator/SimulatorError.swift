/// Why a simulation cannot run with the parameters given.
public enum SimulatorError: Error, Equatable, Sendable {
    /// A parameter is out of its range: its name, the value given, and what is allowed.
    case invalidParameter(name: String, value: String, expected: String)
}
