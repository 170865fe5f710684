/// Chat prompts.
///
/// ChatML (`<|im_start|>role\ntext<|im_end|>\n`, used by SmolLM2) is rendered directly; when the model's template
/// inserts a default system message for conversations that lack one, that message is taken from the template text.
public struct ChatTemplate: Sendable {
    /// The system message the template adds when a conversation has none.
    public let defaultSystem: String?

    /// Reads a model's template; only ChatML templates are supported.
    public init(template: String?) throws(ModelError) {
        guard let template, template.contains("<|im_start|>") else {
            throw .unsupported("chat template (only ChatML templates are rendered)")
        }
        let marker = "<|im_start|>system\n"
        if let start = template.range(of: marker), let end = template[start.upperBound...].range(of: "<|im_end|>") {
            let text = String(template[start.upperBound..<end.lowerBound])
            defaultSystem = text.contains("{") ? nil : text
        } else {
            defaultSystem = nil
        }
    }

    /// One message of a conversation.
    public struct Message: Sendable, Equatable {
        /// `system`, `user` or `assistant`.
        public var role: String
        /// The text.
        public var content: String
        /// A message from `role`.
        public init(role: String, content: String) {
            self.role = role
            self.content = content
        }
    }

    /// The prompt for `messages`, ending with the assistant's turn opened.
    public func render(_ messages: [Message]) -> String {
        var out = ""
        if let defaultSystem, messages.first?.role != "system" {
            out += "<|im_start|>system\n\(defaultSystem)<|im_end|>\n"
        }
        for message in messages { out += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n" }
        return out + "<|im_start|>assistant\n"
    }
}
