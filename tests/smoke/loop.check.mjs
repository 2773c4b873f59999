// The whole loop, checked on chain with @polkadot/api (the library under Polkadot.js apps) after
// `mnemo-demo` drove it with the `mnemo` CLI. Run by the demo itself:
//   mnemo-demo --tiny --then 'node --test tests/smoke/loop.check.mjs'
// which sets MNEMO_URL (the node, still running) and MNEMO_DEMO_SUMMARY (the ids it used).
// Every assertion reads chain state or events, not the demo's printed text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady, randomAsU8a } from '@polkadot/util-crypto';
import { stringToU8a, u8aConcat, u8aToHex } from '@polkadot/util';
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

test('every fee is conserved to the last unit: charged = settled = credited (treasury included)', () => {
  const charged = of('rewards', 'Charged');
  const receipts = summary.inference.receipts.map((r) => r.receipt);
  assert.equal(charged.length, receipts.length, 'one charge per receipt the app paid');
  for (const c of charged) {
    const receipt = c.data.receipt.toNumber();
    const fee = big(c.data.amount);
    assert.ok(fee > 0n, `receipt ${receipt} charged a fee`);
    const settled = of('rewards', 'Settled').filter((e) => e.data.receipt.toNumber() === receipt);
    assert.equal(settled.length, 1, `receipt ${receipt} settled once`);
    assert.equal(big(settled[0].data.fee), fee, `receipt ${receipt}: settled fee = charged fee`);
    const credited = of('rewards', 'Credited').filter((e) => e.data.receipt.toNumber() === receipt);
    const sum = credited.reduce((s, e) => s + big(e.data.amount), 0n);
    assert.equal(sum, fee, `receipt ${receipt}: credits (${sum}) = fee (${fee})`);
    const treasury = credited.filter((e) => !summary.rewards.earnings.some((x) => addr(x.who) === e.data.who.toString()));
    assert.ok(treasury.length <= 1, 'at most one credit outside the known payees (the treasury)');
  }
  assert.equal(of('rewards', 'Refunded').length, 0, 'nothing refunded');
});

test('every claim pays exactly what was credited to that account', async () => {
  for (const c of summary.rewards.claims) {
    const who = addr(c.who);
    const credited = of('rewards', 'Credited').filter((e) => e.data.who.toString() === who).reduce((s, e) => s + big(e.data.amount), 0n);
    const claimed = of('rewards', 'Claimed').filter((e) => e.data.who.toString() === who).reduce((s, e) => s + big(e.data.amount), 0n);
    assert.equal(claimed, credited, `${c.who}: claimed ${claimed} = credited ${credited}`);
    assert.equal(claimed.toString(), c.amount, `${c.who}: the CLI reported the same amount`);
    const ledger = await api.query.rewards.ledgers(who);
    assert.equal(big(ledger.claimable), 0n, `${c.who} has nothing left to claim`);
  }
});

test('the rejected contribution was slashed and earns nothing', async () => {
  const bad = summary.datanet.rejected;
  const rejected = of('datanets', 'Rejected').filter((e) => e.data.contribution.toNumber() === bad.contribution);
  assert.equal(rejected.length, 1, 'rejected once');
  const bond = big((await api.query.datanets.registry(summary.datanet.id)).unwrap().rules.bond);
  assert.equal(big(rejected[0].data.slashed), bond / 2n, 'half the bond slashed (reject_slash 50%)');
  assert.equal(big(rejected[0].data.slashed).toString(), bad.slashed);
  const ferdie = addr(bad.who);
  assert.equal(of('rewards', 'Credited').filter((e) => e.data.who.toString() === ferdie).length, 0, 'never credited');
  const ledger = await api.query.rewards.ledgers(ferdie);
  assert.equal(big(ledger.claimable) + big(ledger.pending) + big(ledger.claimed), 0n);
  assert.equal(big(await api.query.rewards.contributionEarnings(bad.contribution)), 0n);
  for (const s of of('attribution', 'ReceiptSettled')) {
    assert.ok(!s.data.shares.some((x) => x[0].toNumber() === bad.contribution), 'never attributed');
  }
});

test('only approved contributions of the pinned version are attributed', () => {
  const pinned = new Set(
    of('datanets', 'Approved')
      .filter((e) => e.data.datanet.toNumber() === summary.datanet.id && e.data.includedIn.toNumber() <= summary.datanet.version)
      .map((e) => e.data.contribution.toNumber()),
  );
  assert.equal(pinned.size, summary.datanet.approved.length);
  const settled = of('attribution', 'ReceiptSettled');
  assert.equal(settled.length, summary.inference.receipts.length);
  let attributed = 0;
  for (const s of settled) {
    let total = 0n;
    for (const share of s.data.shares) {
      const contribution = share[0].toNumber();
      assert.ok(pinned.has(contribution), `contribution ${contribution} is approved in version ${summary.datanet.version}`);
      total += big(share[share.length - 1]);
      attributed++;
    }
    assert.ok(total <= 1_000_000_000n, 'shares sum to at most one');
  }
  assert.ok(attributed > 0, 'the attestor found contributions behind the answers');
});

test('an explanation for every credit: recent credits name each receipt, with its amounts', async () => {
  for (const e of of('rewards', 'Credited')) {
    const who = e.data.who.toString();
    const receipt = e.data.receipt.toNumber();
    const recent = await api.query.rewards.recentCredits(who);
    const record = recent.find((r) => r.receipt.toNumber() === receipt);
    assert.ok(record, `${who} has an explanation of receipt ${receipt}`);
    const amounts = record.amounts;
    const total = ['contributor', 'adapterOwner', 'datanetOwner', 'attestor', 'treasury'].reduce((s, k) => s + big(amounts[k]), 0n);
    assert.equal(total, big(e.data.amount), `receipt ${receipt}: the explanation adds up to the credit`);
  }
});

test("the contributors' half of every attributed fee reaches the contributions attribution found, and each contribution's earnings are its contributor's", async () => {
  const split = (await api.query.rewards.params()).unwrap().split;
  assert.equal(split.pool.toString(), 'Relative', 'the default pool rule: shared by relative score');
  const part = big(split.contributors.toString()); // parts per billion
  // Each receipt's contributors' pool, rounded down as the chain rounds; each contribution's
  // part of it rounds down too, by less than one unit each.
  let pools = 0n;
  let rounding = 0n;
  for (const s of of('attribution', 'ReceiptSettled')) {
    if (s.data.shares.length === 0) continue;
    pools += (big(s.data.fee) * part) / 1_000_000_000n;
    rounding += BigInt(s.data.shares.length);
  }
  assert.ok(pools > 0n, 'some receipt was attributed to contributions');
  let earned = 0n;
  for (const a of summary.datanet.approved) {
    const ledger = await api.query.rewards.ledgers(addr(a.who));
    const byContribution = big(await api.query.rewards.contributionEarnings(a.contribution));
    assert.equal(byContribution, big(ledger.earned.contributor), `${a.who}: its contribution earned what its ledger says it earned as a contributor`);
    earned += byContribution;
  }
  assert.ok(earned <= pools && earned + rounding >= pools, `the contributors earned ${earned} of the ${pools} in their pools (rounding at most ${rounding})`);
  console.log(`# contributors earned ${Number(earned) / 1e12} MNEMO, their pools ${Number(pools) / 1e12} MNEMO`);
});

test("the app's spend log equals the receipts it paid", async () => {
  const app = addr(summary.inference.app);
  const charged = of('rewards', 'Charged').filter((e) => e.data.payer.toString() === app);
  const paid = charged.reduce((s, e) => s + big(e.data.amount), 0n);
  const spent = await api.query.rewards.spent(app);
  assert.equal(big(spent.total), paid, 'Spent.total = sum of charges');
  assert.equal(spent.receipts.toNumber(), charged.length);
  const page = await provider.send('mnemo_spendLog', [app, null, null, null, null]);
  assert.equal(page.entries.length, charged.length, 'mnemo_spendLog lists every receipt');
  const logged = page.entries.reduce((s, x) => s + BigInt(x.fee), 0n);
  assert.equal(logged, paid, 'mnemo_spendLog fees = charges');
  assert.deepEqual(
    page.entries.map((x) => x.receipt).sort(),
    charged.map((e) => e.data.receipt.toNumber()).sort(),
  );
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
  // Killed part-way through training: resumed, and still one adapter (the model test checks the
  // one TrainingReported on chain).
  const t = f.engine_killed_while_training;
  assert.ok(t.progress_at_kill > 0 && t.progress_at_kill < 1, `killed during training (${t.progress_at_kill})`);
  assert.equal(t.adapters_after, 1, 'one adapter on the engine after the restart');
  // Killed holding every receipt unflushed: each one reached the chain exactly once.
  const r = f.engine_killed_with_unflushed_receipts;
  const asked = summary.inference.questions;
  assert.equal(r.pending_at_kill, asked.length, 'every receipt was unflushed at the kill');
  assert.equal(r.on_chain_at_kill, 0, 'none was on chain at the kill');
  const app = addr(summary.inference.app);
  const recorded = of('attribution', 'ReceiptRecorded').filter((e) => e.data.payer.toString() === app);
  const requests = recorded.map((e) => e.data.request.toHex().replace(/^0x/, ''));
  assert.deepEqual([...requests].sort(), asked.map((q) => q.request.replace(/^0x/, '')).sort(), 'each request recorded once');
  const refused = of('attribution', 'ReceiptRefused').filter((e) => e.data.payer.toString() === app);
  assert.equal(refused.length, 0, 'no receipt was submitted twice (a repeat is refused as DuplicateRequest)');
  // Restarted on its base path: the block seen before is the same block, and it goes on. Every
  // other test here reads the restarted node's blocks from genesis.
  const n = f.node_restarted;
  assert.equal((await api.rpc.chain.getBlockHash(n.best_before)).toHex(), n.hash, `block #${n.best_before} kept`);
  assert.ok((await api.rpc.chain.getHeader()).number.toNumber() > n.best_before, 'new blocks after the restart');
});

test('faults: an attestor that reports wrong scores is struck and unpaid, and every receipt settles on the honest majority', { skip: !summary.faults?.dishonest_attestor && 'the demo ran without --faults' }, async () => {
  const f = summary.faults.dishonest_attestor;
  const mallory = addr(f.dishonest);
  const honest = f.honest.map(addr).sort();
  assert.equal(f.assigned, 3, 'a panel of three per receipt');
  for (const { receipt: id } of summary.inference.receipts) {
    const revealed = of('attribution', 'ReportRevealed').filter((e) => e.data.receipt.toNumber() === id);
    assert.deepEqual(revealed.map((e) => e.data.attestor.toString()).sort(), [...honest, mallory].sort(), `receipt ${id}: all three committed and revealed`);
    // It computed what the others did (one digest) and then reported other scores.
    assert.equal(new Set(revealed.map((e) => e.data.digest.toHex())).size, 1, `receipt ${id}: one digest`);
    const struck = of('attribution', 'AttestorStruck').filter((e) => e.data.receipt.toNumber() === id);
    assert.equal(struck.length, 1, `receipt ${id}: one strike`);
    assert.equal(struck[0].data.attestor.toString(), mallory, `receipt ${id}: the dishonest attestor is struck`);
    assert.equal(struck[0].data.fault.toString(), 'Deviation', `receipt ${id}: for scores beyond the tolerance`);
    const settled = of('attribution', 'ReceiptSettled').filter((e) => e.data.receipt.toNumber() === id);
    assert.equal(settled.length, 1, `receipt ${id} settled`);
    assert.deepEqual(settled[0].data.panel.map((a) => a.toString()).sort(), honest, `receipt ${id}: paid to the honest pair only`);
    const favoured = settled[0].data.shares.find((x) => x[0].toNumber() === f.favoured);
    assert.ok(!favoured || big(favoured[favoured.length - 1]) < 500_000_000n, `receipt ${id}: the 100% it claimed for #${f.favoured} did not carry`);
  }
  for (const h of honest) {
    assert.equal(of('attribution', 'AttestorStruck').filter((e) => e.data.attestor.toString() === h).length, 0, `${h} never struck`);
  }
  assert.equal(of('rewards', 'Credited').filter((e) => e.data.who.toString() === mallory).length, 0, 'the dishonest attestor is never credited');
  const slashes = of('attribution', 'AttestorSlashed').filter((e) => e.data.attestor.toString() === mallory);
  assert.ok(summary.inference.receipts.length >= f.strikes_to_slash, `enough receipts (${summary.inference.receipts.length}) for ${f.strikes_to_slash} strikes`);
  assert.equal(slashes.length, Math.floor(summary.inference.receipts.length / f.strikes_to_slash), `slashed once per ${f.strikes_to_slash} strikes`);
  const slashed = slashes.reduce((s, e) => s + big(e.data.amount), 0n);
  assert.ok(slashed > 0n, 'a slash takes part of the bond');
  assert.equal(slashes.at(-1).data.active.toString(), 'false', 'below the attestor bond it takes no more assignments');
  assert.ok(!(await api.query.attribution.active()).some((a) => a.toString() === mallory), 'not in the active set');
  const now = (await api.query.attribution.attestors(mallory)).unwrap();
  assert.equal(big(now.bond), big(api.consts.attribution.attestorBond) - slashed, 'its bond is short by exactly what was slashed');
  assert.equal(now.bond.toString(), f.struck.bond_after, 'the CLI reported the same bond');
});

// Last: it changes chain state (a new payer, a refused receipt) that the tests above do not expect.
test('an operator that charges a payer beyond its signed consent, or replays a voucher number, is refused, and the payer pays nothing', async () => {
  const UNIT = 10n ** 12n;
  const alice = keyring.addFromUri('//Alice');
  const operator = keyring.addFromUri(summary.inference.operator);
  const payer = keyring.addFromUri(`//loop-check-payer-${Date.now()}`);
  await signAndWait(api, api.tx.balances.transferKeepAlive(payer.address, 10n * UNIT), alice);
  await signAndWait(api, api.tx.rewards.openChannel(operator.address, 5n * UNIT), payer);
  const best = (await api.rpc.chain.getHeader()).number.toNumber();
  const channel = (await api.query.rewards.channels(payer.address, operator.address)).unwrap().id.toBigInt();

  // Vouchers the payer really signed, for 1000 tokens of the deployed adapter: at its price per
  // 1000 tokens (on chain) the operator's receipt charges that price, above 0.1 MNEMO.
  const price = big((await api.query.models.adapters(summary.model.adapter)).unwrap().pricePer1k.unwrap());
  assert.ok(price > UNIT / 10n, `the adapter's price (${price}) is above the 0.1 MNEMO the first voucher consents to`);
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
      expiresAt: best + 50, // within the dev chain's longest voucher lifetime (150 blocks)
      genesis: api.genesisHash,
    };
    const record = (signature) => ({ payer: payer.address, voucher, signature, inputTokens: 400, outputTokens: 600, transcript: randomAsU8a(32) });
    const unsigned = api.tx.attribution.recordInferences([record({ Sr25519: new Uint8Array(64) })]);
    const payload = u8aConcat(stringToU8a('mnemo/voucher/v2'), unsigned.args[0][0].voucher.toU8a());
    return { voucher, record: record({ Sr25519: payer.sign(payload) }) };
  };
  const held = async () => JSON.stringify([
    (await api.query.system.account(payer.address)).data.toJSON(),
    (await api.query.rewards.channels(payer.address, operator.address)).toJSON(),
  ]);
  const before = await held();
  const refusal = async ({ voucher, record }) => {
    const { events: evs } = await signAndWait(api, api.tx.attribution.recordInferences([record]), operator);
    const refusedEv = evs.map(({ event }) => event).find((e) => api.events.attribution.ReceiptRefused.is(e));
    assert.ok(refusedEv, `the receipt is refused (events: ${evs.map(({ event }) => `${event.section}.${event.method}`).join(', ')})`);
    const err = refusedEv.data.error;
    assert.ok(err.isModule, `a module error: ${err.toString()}`);
    assert.equal(u8aToHex(refusedEv.data.request), u8aToHex(voucher.request), 'the refusal names the request');
    assert.ok(!evs.some(({ event }) => api.events.attribution.ReceiptRecorded.is(event)), 'nothing recorded');
    const meta = api.registry.findMetaError(err.asModule);
    return `${meta.section}.${meta.name}`;
  };
  // Consent to 0.1 MNEMO in all, for a 0.5 MNEMO charge.
  assert.equal(await refusal(signed(1, UNIT / 10n)), 'rewards.AboveConsent');
  // Voucher number 0: never above the channel's last.
  assert.equal(await refusal(signed(0, UNIT)), 'rewards.StaleVoucher');
  // A voucher for another channel between the same two (one closed before this was opened).
  assert.equal(await refusal(signed(1, UNIT, channel + 1n)), 'rewards.WrongChannel');
  assert.equal(await held(), before, "the payer's balance and channel are untouched");
  console.log(`# refused: rewards.AboveConsent for a ${Number(price) / 1e12} MNEMO charge against ${Number(UNIT / 10n) / 1e12} MNEMO of consent; rewards.StaleVoucher for a replayed number; rewards.WrongChannel for another channel`);
});
