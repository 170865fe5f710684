import Foundation
import Node
import Runtime
import Testing

/// A sample line of the text format: name, optional `{labels}`, a value.
private func isSampleLine(_ line: Substring) -> Bool {
    line.wholeMatch(
        of:
            /[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\\\|\\"|\\n)*",?)*\})? (NaN|[+-]Inf|-?[0-9.e+-]+)/
    )
        != nil
}

/// The Prometheus text, the node's figures, /status and the token rate.
@Suite struct PeerNodeMetricsTests {
    /// HELP, TYPE, then the samples, for each family with samples; one without is left out.
    @Test func familiesAreWrittenInTheExpositionFormat() {
        let text = PrometheusText.render([
            PrometheusMetric(
                "requests_total", .counter, "Requests served.", [.init(3, labels: [.init("code", "200")])]),
            PrometheusMetric("empty", .gauge, "Nothing yet.", value: nil),
            PrometheusMetric("temperature", .gauge, "Degrees.", value: -1.5),
        ])
        #expect(
            text == """
                # HELP requests_total Requests served.
                # TYPE requests_total counter
                requests_total{code="200"} 3
                # HELP temperature Degrees.
                # TYPE temperature gauge
                temperature -1.5

                """)
    }

    /// Label values escape backslash, quote and line feed; help escapes backslash and line feed; names are sanitized.
    @Test func textIsEscaped() {
        #expect(PrometheusText.escapeLabelValue(#"a\b"c"# + "\nd") == #"a\\b\"c\nd"#)
        #expect(PrometheusText.escapeHelp(#"one\two"# + "\n\"three\"") == #"one\\two\n"three""#)
        let text = PrometheusText.render([
            PrometheusMetric(
                "9bad-name", .gauge, "Line one\nline two", [.init(1, labels: [.init("to-pic", "/a\"b\\\n")])])
        ])
        let lines = text.split(separator: "\n")
        #expect(lines[0] == #"# HELP _9bad_name Line one\nline two"#)
        #expect(lines[1] == "# TYPE _9bad_name gauge")
        #expect(lines[2] == #"_9bad_name{to_pic="/a\"b\\\n"} 1"#)
        #expect(isSampleLine(lines[2]))
    }

    /// Values: whole numbers without a fraction, the special values as the format spells them.
    @Test func valuesAreFormatted() {
        #expect(PrometheusText.format(42) == "42")
        #expect(PrometheusText.format(0) == "0")
        #expect(PrometheusText.format(0.25) == "0.25")
        #expect(PrometheusText.format(.nan) == "NaN")
        #expect(PrometheusText.format(.infinity) == "+Inf")
        #expect(PrometheusText.format(-.infinity) == "-Inf")
        #expect(PrometheusText.format(1e20) == "1e+20")
    }

    private func sample(role: String) -> NodeMetrics {
        NodeMetrics(
            role: role, peerID: "12D3KooWtest", listen: "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWtest",
            api: "http://127.0.0.1:8080", uptimeSeconds: 12.5, connectedPeers: 3,
            mesh: ["/openledger/7/blocks/1": 2, "/openledger/7/announce/1": 1], dhtTable: 5, dhtMode: "client",
            head: 1_234, headsFromRPC: 10, headsFromGossip: 4,
            content: .init(
                blocks: 7, bytes: 7_000, storedBytes: 6_000, quotaBytes: 64 << 20, pins: 2, bytesSent: 100,
                bytesReceived: 200, blocksSent: 1, blocksReceived: 2))
    }

    /// A light node's figures: every family valid, the role's extras absent.
    @Test func aLightNodesMetrics() {
        let text = sample(role: "light").prometheusText
        let lines = text.split(separator: "\n")
        #expect(lines.allSatisfy { $0.hasPrefix("# HELP ") || $0.hasPrefix("# TYPE ") || isSampleLine($0) })
        #expect(lines.contains("openledger_p2p_connected_peers 3"))
        #expect(lines.contains("openledger_light_head_number 1234"))
        #expect(lines.contains(#"openledger_gossip_mesh_peers{topic="/openledger/7/blocks/1"} 2"#))
        #expect(lines.contains("openledger_dht_routing_table_peers 5"))
        #expect(lines.contains("openledger_content_quota_bytes 67108864"))
        #expect(lines.contains(#"openledger_light_heads_total{source="gossip"} 4"#))
        #expect(lines.contains("# TYPE openledger_content_sent_bytes_total counter"))
        #expect(!text.contains("openledger_inference") && !text.contains("openledger_payments"))
        // Every family is declared once, before its samples.
        let types = lines.filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        #expect(Set(types).count == types.count)
    }

    /// An inferencer's and an attester's figures join in when present.
    @Test func aPaidInferencersMetrics() {
        var metrics = sample(role: "inferencer")
        metrics.adapters = .init(known: 3, cached: 1, bytes: 1_000, hits: 9, misses: 1)
        metrics.inference = .init(model: "m", completions: 2, tokens: 64, tokensPerSecond: 12.5, queued: 1, running: 2)
        metrics.payments = .init(accepted: 2, claimsSubmitted: 1)
        metrics.attester = .init(attestations: 4, challenges: 1)
        let lines = metrics.prometheusText.split(separator: "\n")
        for line in [
            "openledger_adapter_cache_hits_total 9", "openledger_adapter_cache_misses_total 1",
            "openledger_inference_tokens_total 64", "openledger_inference_tokens_per_second 12.5",
            "openledger_inference_queue_depth 1", "openledger_payments_accepted_total 2",
            "openledger_claims_submitted_total 1", "openledger_attestations_total 4", "openledger_challenges_total 1",
        ] {
            #expect(lines.contains(Substring(line)), "\(line)")
        }
    }

    /// /status round-trips through JSON, and its summary says the role, head, peers, mesh and content.
    @Test func statusRoundTripsAndSummarizes() throws {
        var metrics = sample(role: "seeder")
        metrics.attester = .init(attestations: 4, challenges: 1)
        let decoded = try #require(NodeStatus.decode(NodeStatus.json(metrics)))
        #expect(decoded == metrics)
        let summary = NodeStatus.summary(decoded).joined(separator: "\n")
        #expect(summary.contains("role:     seeder"))
        #expect(summary.contains("head:     block 1234 (10 from RPC, 4 from gossip)"))
        #expect(summary.contains("peers:    3 connected"))
        #expect(summary.contains("/openledger/7/blocks/1 2"))
        #expect(summary.contains("content:  7 blocks, 7000 bytes, 2 pins"))
        #expect(summary.contains("attester: 4 attested, 1 challenged"))
        #expect(!summary.contains("payments:"))
        for garbage in ["", "{}", "[1]", #"{"role": 1}"#, String(repeating: "x", count: NodeStatus.maximumBytes + 1)] {
            #expect(NodeStatus.decode(Array(garbage.utf8)) == nil)
        }
    }

    /// The rate is the increase over the last reading at least the interval old.
    @Test func rateMeterMeasuresOverItsInterval() {
        var meter = RateMeter(interval: 1)
        #expect(meter.observe(total: 0, at: Instant(seconds: 10)) == 0)
        #expect(meter.observe(total: 5, at: Instant(seconds: 10.5)) == 0)
        #expect(meter.observe(total: 20, at: Instant(seconds: 12)) == 10)
        #expect(meter.observe(total: 21, at: Instant(seconds: 12.2)) == 10)
        #expect(meter.observe(total: 24, at: Instant(seconds: 13)) == 4)
    }
}
