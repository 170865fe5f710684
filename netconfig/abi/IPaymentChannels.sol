// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title PaymentChannels predeploy at 0x4200000000000000000000000000000000000103
/// @notice Unidirectional OPEN payment channels from a payer to a serving peer, paid by EIP-712 vouchers.
/// Vouchers are signed over the domain {name: "OpenLedger PaymentChannels", version: "1", chainId,
/// verifyingContract: this address} and the type
/// Voucher(bytes32 channelId,uint256 cumulativeAmount,bytes32 requestHash).
/// channelId = keccak256(abi.encode(chainId, payer, payee, channelCounter)).
interface IPaymentChannels {
    event ChannelOpened(bytes32 indexed channelId, address indexed payer, address indexed payee, uint256 deposit, uint64 settleDelay);
    event ChannelToppedUp(bytes32 indexed channelId, uint256 deposit);
    event VoucherRedeemed(bytes32 indexed channelId, uint256 cumulativeAmount, uint256 paid, bytes32 requestHash);
    event ChannelClosing(bytes32 indexed channelId, uint64 closesAt);
    event ChannelClosed(bytes32 indexed channelId, uint256 refund);

    /// Opens a channel to `payee` with msg.value as deposit; settleDelay is at least the network minimum and
    /// at most ten years (315,360,000 s).
    function open(address payee, uint64 settleDelay) external payable returns (bytes32 channelId);
    /// Adds msg.value to an open channel (payer only).
    function topUp(bytes32 channelId) external payable;
    /// Pays the payee cumulativeAmount minus what was already redeemed. Stale, replayed, over-deposit and
    /// wrongly signed vouchers revert; redeeming stays possible while the channel is closing.
    function redeem(bytes32 channelId, uint256 cumulativeAmount, bytes32 requestHash, bytes calldata signature) external;
    /// Starts the settle delay (payer only); returns when the payer may withdraw.
    function startClose(bytes32 channelId) external returns (uint64 closesAt);
    /// After the settle delay, refunds deposit minus redeemed to the payer and closes the channel.
    function withdraw(bytes32 channelId) external returns (uint256 refund);

    /// status: 0 none, 1 open, 2 closing, 3 closed.
    function getChannel(bytes32 channelId) external view returns (
        address payer, address payee, uint256 deposit, uint256 redeemed, uint64 settleDelay, uint64 closesAt, uint8 status);
    /// The EIP-712 digest a payer signs for this voucher.
    function voucherDigest(bytes32 channelId, uint256 cumulativeAmount, bytes32 requestHash) external view returns (bytes32);
}
