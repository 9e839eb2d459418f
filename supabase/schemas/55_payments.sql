-- Money in from a payment provider: the events of a Stripe-signed webhook.
--
-- The webhook function (functions/webhooks) checks the provider's signature
-- and calls public.apply_payment_event with the service_role key; nobody else
-- may call it. Every event is recorded once in `payment_events`, whose
-- `event_id` (the provider's event id) is the idempotency key: a redelivery
-- answers the recorded outcome and posts nothing.
--
-- * payment_intent.succeeded: a deposit of `amount_received` into the account
--   named by the payment's metadata (`account_id`), against the bank's
--   `payment_provider` system account of the currency (the provider's
--   settlements owed to the bank), checked by the staff deposit's rules
--   (private.cash_refusal) and written by the same private.post_transfer.
-- * charge.refunded: `amount_refunded` is cumulative, so the withdrawal posts
--   only what the earlier refunds of the same payment have not, linked to the
--   original deposit by the payment intent id, and never more than was
--   deposited in total.
-- * anything else, and an event whose livemode is not the deployment's: ignored.
--
-- An event that cannot be applied (no such account, frozen, another currency,
-- a refund of an unknown payment or beyond the deposit, funds already spent) is
-- recorded `unapplied` with its reason for staff, and the webhook still answers
-- 200 so that the provider stops retrying: nothing is lost, and staff see it in
-- the dashboard and at GET /admin/payments/events?status=unapplied.
--
-- Concurrency: every event of one payment intent takes the same transaction
-- advisory lock (keyed by the payment intent, or the event id for events that
-- name none) before it reads anything, so racing deliveries of one event post
-- once, and a refund reads the refunds before it under that lock. The lock is
-- taken before the accounts', always, so it cannot deadlock with postings.
--
-- Amounts: the provider's amounts are integers of the currency's smallest
-- unit, which for every currency in `currencies` is the ISO 4217 minor unit
-- the table's exponent gives; the currency arrives in lower case.

create table public.payment_events (
  id bigint generated always as identity primary key,
  event_id text not null unique check (char_length(event_id) between 1 and 255),
  event_type text not null check (char_length(event_type) between 1 and 100),
  livemode boolean not null,
  status text not null check (status in ('applied', 'unapplied', 'ignored')),
  reason text check (char_length(reason) <= 500),
  payment_intent_id text check (char_length(payment_intent_id) between 1 and 255),
  -- The account the payment's metadata names, when it is a well-formed id (it may
  -- name no account: the event is then unapplied).
  account_id uuid,
  -- As the provider sent them: amount_received, or the cumulative amount_refunded.
  amount_minor bigint,
  currency text check (char_length(currency) <= 3),
  -- The deposit or refund posted; an applied event always has one.
  transfer_id uuid unique references public.transfers (id),
  received_at timestamptz not null default now(),
  constraint payment_events_applied_have_transfers check ((status = 'applied') = (transfer_id is not null))
);

-- Staff page through one status; refunds find their deposit by payment intent.
create index payment_events_status_id_idx on public.payment_events (status, id);

create index payment_events_payment_intent_id_idx on public.payment_events (payment_intent_id);

-- One deposit per payment, whatever the number of events naming it.
create unique index payment_events_one_deposit_per_payment
  on public.payment_events (payment_intent_id)
  where event_type = 'payment_intent.succeeded' and status = 'applied';

alter table public.payment_events enable row level security;

revoke all on table public.payment_events from anon, authenticated, service_role;

grant select on table public.payment_events to authenticated, service_role;

create policy "Admins can read payment events"
  on public.payment_events for select to authenticated
  using ((select private.is_admin()));

-- Append-only for every role, written only by the ledger's functions: the
-- record of what the provider said is evidence, like the entries.
create trigger payment_events_are_append_only
  before update or delete on public.payment_events
  for each row execute function private.refuse_change('payment events are append-only');

create trigger payment_events_cannot_be_truncated
  before truncate on public.payment_events
  for each statement execute function private.refuse_change('payment events are append-only');

create trigger payment_events_come_from_the_webhook
  before insert on public.payment_events
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('payment events are written only by the ledger''s functions');

-- The bank's system account of a currency for the provider's settlements,
-- made on the first payment in that currency (a currency added later needs
-- nothing else). The unique index on (currency, system_purpose) makes two
-- first payments agree on one account.
create function private.payment_provider_account(p_currency text)
returns uuid
language plpgsql
security invoker
set search_path = ''
as $$
begin
  insert into public.accounts (kind, system_purpose, currency, nickname)
  values ('system', 'payment_provider', p_currency, p_currency || ' payment provider')
  on conflict (currency, system_purpose) where kind = 'system' do nothing;
  return private.system_account(p_currency, 'payment_provider');
end;
$$;

-- An amount of minor units in the currency's major units, for cash_refusal's messages.
create function private.major_units(p_amount_minor bigint, p_currency text)
returns numeric
language sql
stable
security invoker
set search_path = ''
as $$
  select round(p_amount_minor / 10::numeric ^ c.exponent, c.exponent)
    from public.currencies as c where c.code = p_currency
$$;

-- Record an event's outcome and answer it.
create function private.record_payment_event(
  p_event_id text,
  p_event_type text,
  p_livemode boolean,
  p_status text,
  p_reason text,
  p_payment_intent_id text,
  p_account_id uuid,
  p_amount_minor bigint,
  p_currency text,
  p_transfer_id uuid
)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_event public.payment_events;
begin
  insert into public.payment_events
    (event_id, event_type, livemode, status, reason, payment_intent_id, account_id,
     amount_minor, currency, transfer_id)
  values
    (p_event_id, p_event_type, p_livemode, p_status, left(p_reason, 500), p_payment_intent_id,
     p_account_id, p_amount_minor, p_currency, p_transfer_id)
  returning * into v_event;
  return to_jsonb(v_event) || '{"replayed": false}'::jsonb;
end;
$$;

-- Lock the two accounts of a provider movement in id order, settling pending
-- credits as move_cash does; answers (customer, provider) rows, the customer's
-- null when no such account exists.
create function private.lock_payment_accounts(p_account_id uuid, p_provider_id uuid)
returns public.accounts[]
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_row public.accounts;
  v_account public.accounts;
  v_provider public.accounts;
begin
  for v_row in
    select * from public.accounts
     where id in (p_provider_id, p_account_id)
     order by id
       for no key update
  loop
    if v_row.deferred_credits then
      v_row := private.settle_account(v_row);
    end if;
    if v_row.id = p_provider_id then v_provider := v_row; end if;
    if v_row.id = p_account_id then v_account := v_row; end if;
  end loop;
  return array[v_account, v_provider];
end;
$$;

-- payment_intent.succeeded: the deposit, or the reason it cannot be made.
create function private.apply_payment(
  p_event_id text, p_livemode boolean, p_payment_intent_id text, p_account_id uuid,
  p_amount_minor bigint, p_currency text
)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_locked public.accounts[];
  v_refusal text[];
  v_transfer public.transfers;
  v_description text := format('card payment %s', p_payment_intent_id);
begin
  if exists (select from public.payment_events
              where payment_intent_id = p_payment_intent_id
                and event_type = 'payment_intent.succeeded' and status = 'applied') then
    return private.record_payment_event(
      p_event_id, 'payment_intent.succeeded', p_livemode, 'ignored',
      format('payment (%s) was deposited already', p_payment_intent_id),
      p_payment_intent_id, p_account_id, p_amount_minor, p_currency, null);
  end if;
  v_locked := private.lock_payment_accounts(
    p_account_id, private.payment_provider_account(p_currency));
  v_refusal := private.cash_refusal(
    'deposit', p_account_id, v_locked[1], v_locked[2],
    private.major_units(p_amount_minor, p_currency), p_amount_minor, p_currency);
  if v_refusal is not null then
    return private.record_payment_event(
      p_event_id, 'payment_intent.succeeded', p_livemode, 'unapplied', v_refusal[2],
      p_payment_intent_id, p_account_id, p_amount_minor, p_currency, null);
  end if;
  v_transfer := private.post_transfer(
    gen_random_uuid(), 'deposit', v_locked[2], v_locked[1], p_amount_minor, v_description, null);
  return private.record_payment_event(
    p_event_id, 'payment_intent.succeeded', p_livemode, 'applied', null,
    p_payment_intent_id, p_account_id, p_amount_minor, p_currency, v_transfer.id);
end;
$$;

-- Why a refund of `p_deposit` cannot be applied at all (another currency, or
-- more than the deposit), or null.
create function private.refund_mismatch(
  p_deposit public.payment_events, p_payment_intent_id text, p_refunded_minor bigint,
  p_currency text
)
returns text
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_deposited bigint;
begin
  select t.amount into v_deposited from public.transfers as t where t.id = p_deposit.transfer_id;
  return case
    when p_currency <> p_deposit.currency then
      format('refund in %s of payment (%s) deposited in %s', p_currency, p_payment_intent_id,
             p_deposit.currency)
    when p_refunded_minor > v_deposited then
      format('refunds (%s) of payment (%s) exceed its deposit (%s)',
             private.format_amount(p_refunded_minor, p_currency), p_payment_intent_id,
             private.format_amount(v_deposited, p_currency))
  end;
end;
$$;

-- charge.refunded: the withdrawal of what the earlier refunds of the payment
-- have not taken back yet, never beyond the deposit.
create function private.apply_refund(
  p_event_id text, p_livemode boolean, p_payment_intent_id text, p_refunded_minor bigint,
  p_currency text
)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_deposit public.payment_events;
  v_refunded bigint;
  v_locked public.accounts[];
  v_refusal text[];
  v_transfer public.transfers;
  v_reason text;
begin
  select * into v_deposit from public.payment_events
   where payment_intent_id = p_payment_intent_id
     and event_type = 'payment_intent.succeeded' and status = 'applied';
  if v_deposit.id is null then
    return private.record_payment_event(
      p_event_id, 'charge.refunded', p_livemode, 'unapplied',
      format('refund of payment (%s), which was never deposited', p_payment_intent_id),
      p_payment_intent_id, null, p_refunded_minor, p_currency, null);
  end if;
  select coalesce(sum(t.amount), 0) into v_refunded
    from public.payment_events as e
    join public.transfers as t on t.id = e.transfer_id
   where e.payment_intent_id = p_payment_intent_id
     and e.event_type = 'charge.refunded' and e.status = 'applied';
  v_reason := private.refund_mismatch(
    v_deposit, p_payment_intent_id, p_refunded_minor, p_currency);
  if v_reason is not null then
    return private.record_payment_event(
      p_event_id, 'charge.refunded', p_livemode, 'unapplied', v_reason,
      p_payment_intent_id, v_deposit.account_id, p_refunded_minor, p_currency, null);
  end if;
  if p_refunded_minor <= v_refunded then
    return private.record_payment_event(
      p_event_id, 'charge.refunded', p_livemode, 'ignored',
      format('payment (%s) has had %s refunded already', p_payment_intent_id,
             private.format_amount(v_refunded, p_currency)),
      p_payment_intent_id, v_deposit.account_id, p_refunded_minor, p_currency, null);
  end if;
  v_locked := private.lock_payment_accounts(
    v_deposit.account_id, private.payment_provider_account(p_currency));
  v_refusal := private.cash_refusal(
    'withdrawal', v_deposit.account_id, v_locked[1], v_locked[2],
    private.major_units(p_refunded_minor - v_refunded, p_currency), p_refunded_minor - v_refunded,
    p_currency);
  if v_refusal is not null then
    return private.record_payment_event(
      p_event_id, 'charge.refunded', p_livemode, 'unapplied', v_refusal[2],
      p_payment_intent_id, v_deposit.account_id, p_refunded_minor, p_currency, null);
  end if;
  v_transfer := private.post_transfer(
    gen_random_uuid(), 'withdrawal', v_locked[1], v_locked[2], p_refunded_minor - v_refunded,
    format('card refund %s', p_payment_intent_id), null);
  return private.record_payment_event(
    p_event_id, 'charge.refunded', p_livemode, 'applied', null,
    p_payment_intent_id, v_deposit.account_id, p_refunded_minor, p_currency, v_transfer.id);
end;
$$;

-- Why an event of a known type cannot even be read (a missing field, an
-- amount out of range, an unknown currency), or null.
create function private.payment_event_problem(
  p_event_type text, p_payment_intent_id text, p_account_id text, p_amount numeric,
  p_currency text
)
returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select case
    when p_payment_intent_id is null or char_length(p_payment_intent_id) > 255
         or p_payment_intent_id !~ '^[A-Za-z0-9_]+$' then
      'the event names no payment intent'
    when p_event_type = 'payment_intent.succeeded' and p_account_id is null then
      'the payment''s metadata has no account_id'
    when p_event_type = 'payment_intent.succeeded'
         and p_account_id !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
      format('the payment''s metadata account_id (%s) is not an account id', left(p_account_id, 64))
    when p_amount is null or p_amount <> trunc(p_amount) then
      'the event has no amount in minor units'
    when p_amount <= 0 and p_event_type = 'payment_intent.succeeded' then
      'the payment received nothing'
    when p_amount not between 0 and 9223372036854775807 then
      format('amount (%s) is beyond what the ledger can hold', p_amount)
    when p_currency is null
         or not exists (select from public.currencies where code = upper(p_currency)) then
      format('currency (%s) is not supported', left(coalesce(p_currency, 'none'), 16))
  end
$$;

-- The one entry point: record the event once and apply it if it can be.
-- Service role only (the webhook function, which verified the signature).
create function private.apply_payment_event(
  p_event_id text,
  p_event_type text,
  p_livemode boolean,
  p_expected_livemode boolean,
  p_payment_intent_id text,
  p_account_id text,
  p_amount numeric,
  p_currency text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_known boolean := p_event_type in ('payment_intent.succeeded', 'charge.refunded');
  v_problem text;
  v_currency text := upper(p_currency);
  v_account_id uuid;
begin
  if coalesce(auth.role(), '') <> 'service_role' then
    raise exception using errcode = 'BK010',
      message = 'apply_payment_event is for the payments webhook only';
  end if;
  if p_event_id is null or char_length(p_event_id) not between 1 and 255 then
    perform private.raise_invalid('p_event_id', 'event id must be 1 to 255 characters');
  end if;
  if p_event_type is null or char_length(p_event_type) not between 1 and 100 then
    perform private.raise_invalid('p_event_type', 'event type must be 1 to 100 characters');
  end if;
  if p_livemode is null or p_expected_livemode is null then
    perform private.raise_invalid('p_livemode', 'livemode is required');
  end if;
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
    'payment:' || case when v_known and p_payment_intent_id is not null
                       then p_payment_intent_id else p_event_id end, 0));
  if exists (select from public.payment_events where event_id = p_event_id) then
    return (select to_jsonb(e) || '{"replayed": true}'::jsonb
              from public.payment_events as e where e.event_id = p_event_id);
  end if;
  if not v_known or p_livemode <> p_expected_livemode then
    return private.record_payment_event(
      p_event_id, p_event_type, p_livemode, 'ignored',
      case when v_known then format('a livemode=%s event where %s events are expected',
                                    p_livemode, case when p_expected_livemode then 'live' else 'test' end)
           else format('event type %s is not handled', p_event_type) end,
      null, null, null, null, null);
  end if;
  v_problem := private.payment_event_problem(
    p_event_type, p_payment_intent_id, p_account_id, p_amount, p_currency);
  if v_problem is not null then
    return private.record_payment_event(
      p_event_id, p_event_type, p_livemode, 'unapplied', v_problem,
      case when char_length(p_payment_intent_id) <= 255
                 and p_payment_intent_id ~ '^[A-Za-z0-9_]+$' then p_payment_intent_id end,
      null, null, null, null);
  end if;
  if p_event_type = 'charge.refunded' then
    return private.apply_refund(p_event_id, p_livemode, p_payment_intent_id, p_amount::bigint,
                                v_currency);
  end if;
  v_account_id := p_account_id::uuid;
  return private.apply_payment(p_event_id, p_livemode, p_payment_intent_id, v_account_id,
                               p_amount::bigint, v_currency);
end;
$$;

revoke execute on function
  private.major_units(bigint, text),
  private.payment_provider_account(text),
  private.record_payment_event(text, text, boolean, text, text, text, uuid, bigint, text, uuid),
  private.lock_payment_accounts(uuid, uuid),
  private.apply_payment(text, boolean, text, uuid, bigint, text),
  private.refund_mismatch(public.payment_events, text, bigint, text),
  private.apply_refund(text, boolean, text, bigint, text),
  private.payment_event_problem(text, text, text, numeric, text),
  private.apply_payment_event(text, text, boolean, boolean, text, text, numeric, text)
from public;

grant execute on function
  private.apply_payment_event(text, text, boolean, boolean, text, text, numeric, text)
to service_role;

-- The RPC PostgREST exposes, to the service role only.
create function public.apply_payment_event(
  p_event_id text,
  p_event_type text,
  p_livemode boolean,
  p_expected_livemode boolean,
  p_payment_intent_id text default null,
  p_account_id text default null,
  p_amount numeric default null,
  p_currency text default null
)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.apply_payment_event(p_event_id, p_event_type, p_livemode, p_expected_livemode,
                                     p_payment_intent_id, p_account_id, p_amount, p_currency)
$$;

revoke execute on function
  public.apply_payment_event(text, text, boolean, boolean, text, text, numeric, text)
from public, anon, authenticated, service_role;

grant execute on function
  public.apply_payment_event(text, text, boolean, boolean, text, text, numeric, text)
to service_role;
