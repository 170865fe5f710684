import Chain
import Foundation
import HTTP

extension OpenAIAPI {
    /// The header a client may send without a voucher so that the 402 quote states its channel's account.
    static let channelHeader = "X-OpenLedger-Channel"

    /// Checks a paid request's voucher before anything is generated: on the server's thread when the channel is
    /// proven recently, else off it (one proof round trip); then runs it or answers the refusal.
    func pay(_ prepared: Completion, request: HTTPRequest, payments: PaymentGate) -> HTTPReply {
        let header = request.header(SignedVoucher.headerName)
        let hint = request.header(Self.channelHeader)
        let body = request.body
        let path = request.target.split(separator: "?").first.map(String.init) ?? request.target
        let model = prepared.model.isEmpty ? modelName : prepared.model
        let logger = self.logger
        @Sendable func authorize(mayProve: Bool) -> Result<PaymentGate.Ticket, PaymentGate.Refusal>? {
            payments.authorize(
                header: header, body: body, model: model, promptTokens: prepared.generation.prompt.count,
                maxTokens: prepared.generation.maxTokens, channelHint: hint, mayProve: mayProve, path: path)
        }
        @Sendable func outcome(_ result: Result<PaymentGate.Ticket, PaymentGate.Refusal>, writer: any OpenAIReplyWriter)
        {
            switch result {
            case .success(let ticket):
                var completion = prepared
                completion.ticket = ticket
                run(completion, writer: writer)
            case .failure(let refusal):
                logger.debug(
                    "payment refused",
                    ["id": prepared.id, "status": "\(refusal.reason.status)", "reason": refusal.reason.code])
                writer.respond(Self.paymentError(refusal))
            }
        }
        if let result = authorize(mayProve: false) {
            if case .failure(let refusal) = result {
                logger.debug(
                    "payment refused",
                    ["id": prepared.id, "status": "\(refusal.reason.status)", "reason": refusal.reason.code])
                return .response(Self.paymentError(refusal))
            }
            return .deferred { writer in outcome(result, writer: writer) }
        }
        return .deferred { writer in
            DispatchQueue.global().async {
                outcome(
                    authorize(mayProve: true)
                        ?? .failure(.init(reason: .ledgerUnavailable("the channel could not be proven"), quote: [:])),
                    writer: writer)
            }
        }
    }

    /// A payment refusal as an OpenAI-style error with the quote: 402, 403 or 503.
    static func paymentError(_ refusal: PaymentGate.Refusal) -> HTTPResponse {
        let type =
            switch refusal.reason.status {
            case 402: "payment_required"
            case 403: "permission_error"
            default: "server_error"
            }
        let object: [String: Any] = [
            "message": refusal.reason.description, "type": type, "code": refusal.reason.code, "param": NSNull(),
            "quote": refusal.quote,
        ]
        return HTTPResponse(
            status: refusal.reason.status, headers: [("Content-Type", "application/json")],
            body: json(["error": object]))
    }
}
