// The whole loop, checked on chain with @polkadot/api (the library under Polkadot.js apps) after
// `mnemo-demo` drove it with the `mnemo` CLI. Run by the demo itself:
//   mnemo-demo --tiny --then 'node --test tests/smoke/loop.check.mjs'
// which sets MNEMO_URL (the node, still running) and MNEMO_DEMO_SUMMARY (the ids it used, and
// the receipts the CLI read from the operator's batch blobs and proved against their roots).
// Every assertion reads chain state or events, or checks the summary against them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady, randomAsU8a } from '@polkadot/util-crypto';
import { stringToU8a, u8aConcat } from '@polkadot/util';
import { signAndWait } from './lib.mjs';

const url = process.env.MNEMO_URL;
const summaryPath = process.env.MNEMO_DEMO_SUMMARY;
if (!url || !summaryPath) throw new Error('run through mnemo-demo --then: MNEMO_URL and MNEMO_DEMO_SUMMARY are not set');
const summary = JSON.parse(readFileSync(summaryPath, 'utf8'));

let api;
let provider;
let keyring;
const events = []; // { block, section, method, data }
const addr = (suri) => keyring.addFromUri(suri).address;

before(async () => {
  await cryptoWaitReady();
  keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  provider = new WsProvider(url);
  api = await ApiPromise.create({ provider, noInitWarn: true });
  keyring.setSS58Format(api.registry.chainSS58 ?? 42);
  const best = (await api.rpc.chain.getHeader()).number.toNumber();
  for (let n = 1; n <= best; n++) {
    const hash = await api.rpc.chain.getBlockHash(n);
    const at = await api.at(hash);
    for (const { event } of await at.query.system.events()) {
      events.push({ block: n, section: event.section, method: event.method, data: event.data });
    }
  }
});

after(async () => {
  if (api) await api.disconnect();
});

const of = (section, method) => events.filter((e) => e.section === section && e.method === method);
const big = (x) => BigInt(x.toString());
const receipts = () => summary.inference.receipts;
const appBatches = () => [...new Set(receipts().map((r) => r.batch))].sort((a, b) => a - b);
const earningsOf = (who) => summary.rewards.earnings.find((e) => e.who === who)?.earnings;

test('every fee is conserved to the last unit: charged = submitted = settled (attestors + payouts) = claimable or claimed', async () => {
  const app = addr(summary.inference.app);
  assert.ok(appBatches().length > 0, 'the app paid in at least one batch');
  for (const id of appBatches()) {
    const submitted = of('attribution', 'BatchSubmitted').filter((e) => e.data.batch.toNumber() === id);
    assert.equal(submitted.length, 1, `batch ${id} submitted once`);
    const charged = of('rewards', 'BatchCharged').filter((e) => e.data.batch.toNumber() === id);
    const fees = charged.reduce((s, e) => s + big(e.data.amount), 0n);
    assert.equal(fees, big(submitted[0].data.fees), `batch ${id}: its charges sum to its fees`);
    const mine = receipts().filter((r) => r.batch === id);
    const appCharge = charged.filter((e) => e.data.payer.toString() === app).reduce((s, e) => s + big(e.data.amount), 0n);
    assert.equal(appCharge, mine.reduce((s, r) => s + BigInt(r.fee), 0n), `batch ${id}: the app was charged the sum of its receipts' fees`);
    const settled = of('rewards', 'BatchSettled').filter((e) => e.data.batch.toNumber() === id);
    assert.equal(settled.length, 1, `batch ${id} settled once`);
    assert.equal(big(settled[0].data.total) + big(settled[0].data.attestorsPart), fees, `batch ${id}: payouts + attestors' part = fees`);
  }
  assert.equal(of('rewards', 'BatchRefunded').length, 0, 'nothing refunded');
  // Each operator's book: what its batches added, what was claimed.
  const operator = addr(summary.inference.operator);
  const book = (await api.query.rewards.payoutBooks(operator)).unwrap();
  const added = of('rewards', 'BatchSettled').filter((e) => e.data.operator.toString() === operator).reduce((s, e) => s + big(e.data.total), 0n);
  const claimed = of('rewards', 'PayoutClaimed').filter((e) => e.data.operator.toString() === operator).reduce((s, e) => s + big(e.data.amount), 0n);
  assert.equal(big(book.settled), added, 'the book counts every settled batch');
  assert.equal(big(book.paid), claimed, 'the book counts every claim');
  assert.ok(claimed <= added, 'never more claimed than the batches added');
});

test('every claim pays exactly what the chain owed that account, and the CLI says so', async () => {
  const operator = addr(summary.inference.operator);
  for (const c of summary.rewards.claims) {
    const who = addr(c.who);
    const fromPayouts = of('rewards', 'PayoutClaimed').filter((e) => e.data.who.toString() === who);
    const fromLedger = of('rewards', 'Claimed').filter((e) => e.data.who.toString() === who);
    const claimed = [...fromPayouts, ...fromLedger].reduce((s, e) => s + big(e.data.amount), 0n);
    assert.equal(claimed.toString(), c.amount, `${c.who}: the CLI reported what the chain paid`);
    // A payout claim pays the running total less what was claimed before: once, all of it.
    for (const p of fromPayouts) {
      assert.equal(big(await api.query.rewards.paidOut(operator, who)), big(p.data.total), `${c.who}: claimed up to its running total`);
    }
    // The ledger part is the attestors' parts credited when batches settled.
    const ledger = await api.query.rewards.ledgers(who);
    assert.equal(big(ledger.claimable), 0n, `${c.who} has nothing left in its ledger`);
  }
});

test('the rejected contribution was slashed, never attributed and never paid', async () => {
  const bad = summary.datanet.rejected;
  const rejected = of('datanets', 'Rejected').filter((e) => e.data.contribution.toNumber() === bad.contribution);
  assert.equal(rejected.length, 1, 'rejected once');
  const bond = big((await api.query.datanets.registry(summary.datanet.id)).unwrap().rules.bond);
  assert.equal(big(rejected[0].data.slashed), bond / 2n, 'half the bond slashed (reject_slash 50%)');
  assert.equal(big(rejected[0].data.slashed).toString(), bad.slashed);
  const ferdie = addr(bad.who);
  assert.equal(of('rewards', 'PayoutClaimed').filter((e) => e.data.who.toString() === ferdie).length, 0, 'never paid out');
  const ledger = await api.query.rewards.ledgers(ferdie);
  assert.equal(big(ledger.claimable) + big(ledger.claimed), 0n);
  const operator = addr(summary.inference.operator);
  assert.equal(big(await api.query.rewards.paidOut(operator, ferdie)), 0n);
  for (const r of receipts()) {
    assert.ok(!r.attribution.some((x) => x.contribution === bad.contribution), `request ${r.request}: never attributed`);
  }
});

test('the receipts the CLI proved are the batches on chain: leaves, fees, the app as payer', () => {
  for (const id of appBatches()) {
    const submitted = of('attribution', 'BatchSubmitted').find((e) => e.data.batch.toNumber() === id);
    const mine = receipts().filter((r) => r.batch === id);
    assert.ok(mine.length <= submitted.data.leaves.toNumber(), `batch ${id}: at most its leaves`);
    const leaves = new Set(mine.map((r) => r.leaf));
    assert.equal(leaves.size, mine.length, `batch ${id}: one receipt per leaf`);
    const entry = summary.inference.spend_log.batches.find((b) => b.batch === id);
    assert.ok(entry, `batch ${id} is in the app's spend log`);
    assert.equal(entry.root, submitted.data.root.toHex(), `batch ${id}: the spend log's root is the one committed`);
  }
});

test('only approved contributions of the pinned version are attributed', () => {
  const pinned = new Set(
    of('datanets', 'Approved')
      .filter((e) => e.data.datanet.toNumber() === summary.datanet.id && e.data.includedIn.toNumber() <= summary.datanet.version)
      .map((e) => e.data.contribution.toNumber()),
  );
  assert.equal(pinned.size, summary.datanet.approved.length);
  let attributed = 0;
  for (const r of receipts()) {
    let total = 0;
    for (const x of r.attribution) {
      assert.ok(pinned.has(x.contribution), `contribution ${x.contribution} is approved in version ${summary.datanet.version}`);
      total += x.share;
      attributed++;
    }
    assert.ok(total <= 1 + 1e-9, 'shares sum to at most one');
  }
  assert.ok(attributed > 0, 'the operator found contributions behind the answers');
});

test("an explanation for every payout: the receipts behind an account's running total add up to it", () => {
  const operator = addr(summary.inference.operator);
  for (const { who, earnings } of summary.rewards.earnings) {
    const p = earnings.payouts.find((x) => x.operator === operator);
    if (!p || BigInt(p.total) === 0n) continue;
    const explained = earnings.credits.filter((c) => c.operator === operator).reduce((s, c) => s + BigInt(c.amount), 0n);
    assert.equal(explained, BigInt(p.total), `${who}: its receipts explain its running total`);
    // The walk back reached the operator's first batch (no batch of the demo is pruned yet), and
    // says what it itemised.
    const it = earnings.itemised.find((x) => x.operator === operator);
    assert.deepEqual([it.stopped, it.oldest, BigInt(it.itemised), BigInt(it.total)], ['first', null, explained, BigInt(p.total)], `${who}: ${JSON.stringify(it)}`);
  }
});

test("the contributors' half of every attributed fee reaches the contributions attribution found", async () => {
  const split = (await api.query.rewards.params()).unwrap().split;
  assert.equal(split.pool.toString(), 'Relative', 'the default pool rule: shared by relative score');
  const part = big(split.contributors.toString()); // parts per billion
  let pools = 0n;
  let rounding = 0n;
  for (const r of receipts()) {
    if (r.attribution.length === 0) continue;
    pools += (BigInt(r.fee) * part) / 1_000_000_000n;
    rounding += BigInt(r.attribution.length);
  }
  assert.ok(pools > 0n, 'some receipt was attributed to contributions');
  let earned = 0n;
  for (const a of summary.datanet.approved) {
    for (const c of earningsOf(a.who)?.credits ?? []) earned += BigInt(c.amounts.contributor);
  }
  assert.ok(earned <= pools && earned + rounding >= pools, `the contributors earned ${earned} of the ${pools} in their pools (rounding at most ${rounding})`);
  console.log(`# contributors earned ${Number(earned) / 1e12} MNEMO, their pools ${Number(pools) / 1e12} MNEMO`);
});

test("the app's spend log equals the batches that charged it", async () => {
  const app = addr(summary.inference.app);
  const charged = of('rewards', 'BatchCharged').filter((e) => e.data.payer.toString() === app);
  const paid = charged.reduce((s, e) => s + big(e.data.amount), 0n);
  const spent = await api.query.rewards.spent(app);
  assert.equal(big(spent.total), paid, 'Spent.total = sum of charges');
  assert.equal(spent.receipts.toNumber(), receipts().length, 'Spent.receipts = the receipts the batches carried');
  const page = await provider.send('mnemo_spendLog', [app, null, null, null, null]);
  assert.equal(page.entries.length, charged.length, 'mnemo_spendLog lists every batch charge');
  assert.equal(page.entries.reduce((s, x) => s + BigInt(x.amount), 0n), paid, 'mnemo_spendLog amounts = charges');
  assert.deepEqual(page.entries.map((x) => x.batch).sort(), charged.map((e) => e.data.batch.toNumber()).sort());
  assert.equal(page.entries.reduce((s, x) => s + x.receipts, 0), receipts().length, 'and their receipts');
});

test('the model went through governance, training and evaluation, and is deployed', async () => {
  const m = (await api.query.models.modelRecords(summary.model.id)).unwrap();
  assert.equal(m.stage.toString(), 'Deployed');
  assert.equal(of('governance', 'Enacted').length >= 1, true, 'the approval was enacted');
  const reported = of('models', 'TrainingReported').filter((e) => e.data.model.toNumber() === summary.model.id);
  assert.equal(reported.length, 1, 'one adapter reported');
  assert.ok(of('models', 'EvaluationAttested').length >= 1, 'a second trainer attested the evaluation');
});

test('faults: the engine killed while training and while holding receipts, and the node restarted, lost and doubled nothing', { skip: !summary.faults && 'the demo ran without --faults' }, async () => {
  const f = summary.faults;
  const t = f.engine_killed_while_training;
  assert.ok(t.progress_at_kill > 0 && t.progress_at_kill < 1, `killed during training (${t.progress_at_kill})`);
  assert.equal(t.adapters_after, 1, 'one adapter on the engine after the restart');
  // Killed holding every receipt unflushed: each one reached a batch on chain exactly once.
  const r = f.engine_killed_with_unflushed_receipts;
  const asked = summary.inference.questions;
  assert.equal(r.pending_at_kill, asked.length, 'every receipt was unflushed at the kill');
  assert.equal(r.on_chain_at_kill, 0, 'none was on chain at the kill');
  const requests = receipts().map((x) => x.request.replace(/^0x/, ''));
  assert.deepEqual([...requests].sort(), asked.map((q) => q.request.replace(/^0x/, '')).sort(), 'each request in a batch once');
  const app = addr(summary.inference.app);
  const charges = of('rewards', 'BatchCharged').filter((e) => e.data.payer.toString() === app);
  assert.equal(new Set(charges.map((e) => e.data.batch.toNumber())).size, charges.length, 'no batch charged the app twice');
  const n = f.node_restarted;
  assert.equal((await api.rpc.chain.getBlockHash(n.best_before)).toHex(), n.hash, `block #${n.best_before} kept`);
  assert.ok((await api.rpc.chain.getHeader()).number.toNumber() > n.best_before, 'new blocks after the restart');
});

test('faults: an attestor that reports wrong scores is struck and unpaid, and every batch settles on the honest majority', { skip: !summary.faults?.dishonest_attestor && 'the demo ran without --faults' }, async () => {
  const f = summary.faults.dishonest_attestor;
  const mallory = addr(f.dishonest);
  const honest = f.honest.map(addr).sort();
  assert.equal(f.assigned, 3, 'a panel of three per batch');
  assert.ok(f.reports.length > 0, 'it sat on a panel');
  for (const { batch: id } of f.reports) {
    const revealed = of('attribution', 'BatchReportRevealed').filter((e) => e.data.batch.toNumber() === id);
    assert.deepEqual(revealed.map((e) => e.data.attestor.toString()).sort(), [...honest, mallory].sort(), `batch ${id}: all three committed and revealed`);
    const struck = of('attribution', 'AttestorStruck').filter((e) => e.data.batch.toNumber() === id);
    assert.equal(struck.length, 1, `batch ${id}: one strike`);
    assert.equal(struck[0].data.attestor.toString(), mallory, `batch ${id}: the dishonest attestor is struck`);
    assert.equal(struck[0].data.fault.toString(), 'Deviation', `batch ${id}: for scores beyond the tolerance`);
    const settled = of('attribution', 'BatchSettled').filter((e) => e.data.batch.toNumber() === id);
    assert.equal(settled.length, 1, `batch ${id} settled`);
    assert.deepEqual(settled[0].data.paid.map((a) => a.toString()).sort(), honest, `batch ${id}: paid to the honest pair only`);
  }
  for (const h of honest) {
    assert.equal(of('attribution', 'AttestorStruck').filter((e) => e.data.attestor.toString() === h).length, 0, `${h} never struck`);
  }
  const ledger = await api.query.rewards.ledgers(mallory);
  assert.equal(big(ledger.claimable) + big(ledger.claimed), 0n, 'the dishonest attestor is never credited');
  const now = (await api.query.attribution.attestors(mallory)).unwrap();
  assert.equal(now.bond.toString(), f.struck.bond_after, 'the CLI reported its bond');
});

// Last: it changes chain state (a new payer) that the tests above do not expect.
test('an operator that charges a payer beyond its signed consent, or replays a voucher number, is refused whole, and the payer pays nothing', async () => {
  const UNIT = 10n ** 12n;
  const alice = keyring.addFromUri('//Alice');
  const operator = keyring.addFromUri(summary.inference.operator);
  const payer = keyring.addFromUri(`//loop-check-payer-${Date.now()}`);
  await signAndWait(api, api.tx.balances.transferKeepAlive(payer.address, 10n * UNIT), alice);
  await signAndWait(api, api.tx.rewards.openChannel(operator.address, 5n * UNIT), payer);
  const best = (await api.rpc.chain.getHeader()).number.toNumber();
  const channel = (await api.query.rewards.channels(payer.address, operator.address)).unwrap().id.toBigInt();
  // Split by the terms in force (those the app's batch committed; governance has not changed
  // them), extending the operator's latest batch: or the chain refuses it before any charge.
  const terms = (await api.query.attribution.batches(appBatches()[0])).unwrap().header.terms;
  const prev = await api.query.attribution.operatorBatches(operator.address);
  const base = prev.pending.length > 0 ? prev.pending[prev.pending.length - 1].toNumber() : prev.settled.isSome ? prev.settled.unwrap().batch.toNumber() : null;

  // A batch of one receipt the payer really signed: 0.5 MNEMO charged under a voucher.
  const signed = (seq, cumulative, channelId = channel) => {
    const voucher = {
      request: randomAsU8a(16),
      operator: operator.address,
      adapter: summary.model.adapter,
      maxPricePer1k: 10n * UNIT,
      maxTokens: 1000,
      channel: channelId,
      seq,
      cumulative,
      expiresAt: best + 50, // within the dev chain's longest voucher lifetime
      genesis: api.genesisHash,
    };
    const charge = (signature) => ({ payer: payer.address, voucher, signature, leaves: 1, amount: UNIT / 2n });
    const header = { root: randomAsU8a(32), leaves: 1, blob: randomAsU8a(32), payoutsRoot: randomAsU8a(32), payoutsCount: 1, payoutsTotal: UNIT / 2n, attestorsPart: 0, prev: base, terms };
    const unsigned = api.tx.attribution.submitBatch(header, [charge({ Sr25519: new Uint8Array(64) })]);
    const payload = u8aConcat(stringToU8a('mnemo/voucher/v2'), unsigned.args[1][0].voucher.toU8a());
    return api.tx.attribution.submitBatch(header, [charge({ Sr25519: payer.sign(payload) })]);
  };
  const held = async () => JSON.stringify([
    (await api.query.system.account(payer.address)).data.toJSON(),
    (await api.query.rewards.channels(payer.address, operator.address)).toJSON(),
  ]);
  const before = await held();
  const next = (await api.query.attribution.nextBatch()).toNumber();
  // A batch refused in dispatch: signAndWait rejects with the module error's name.
  const refusal = async (tx) => {
    const outcome = await signAndWait(api, tx, operator).then(() => 'included and not refused', (e) => e.message);
    assert.ok(outcome.startsWith('dispatch error: '), `the batch is refused: ${outcome}`);
    return outcome.slice('dispatch error: '.length);
  };
  // Consent to 0.1 MNEMO in all, for a 0.5 MNEMO charge.
  assert.equal(await refusal(signed(1, UNIT / 10n)), 'rewards.AboveConsent');
  // Voucher number 0: never above the channel's last.
  assert.equal(await refusal(signed(0, UNIT)), 'rewards.StaleVoucher');
  // A voucher for another channel between the same two (one closed before this was opened).
  assert.equal(await refusal(signed(1, UNIT, channel + 1n)), 'rewards.WrongChannel');
  assert.equal(await held(), before, "the payer's balance and channel are untouched");
  assert.equal((await api.query.attribution.nextBatch()).toNumber(), next, 'no batch landed');
  console.log('# refused whole: rewards.AboveConsent for a 0.5 MNEMO charge against 0.1 MNEMO of consent; rewards.StaleVoucher for a replayed number; rewards.WrongChannel for another channel');
});
