-- README: every account's entries form an unbroken hash chain (each entry's hash is sha256 of the previous entry's hash and its own fields) ending at the account's version. Returns zero rows when the invariant holds; each row is a break named by account and entry (public.verify_ledger()).
select account_id, entry_id, account_version, problem, detail
  from public.verify_ledger();
