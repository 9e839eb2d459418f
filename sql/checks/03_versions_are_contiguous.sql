-- README: every account's entries carry versions 1..n with no gap or repeat, n is the account's version, and entry ids rise with versions. Returns zero rows when the invariant holds; each row is an account whose history has a hole.
select a.id as account_id,
       a.version,
       count(e.id) as entry_count,
       min(e.account_version) as first_version,
       max(e.account_version) as last_version
  from public.accounts as a
  left join public.entries as e on e.account_id = a.id
 group by a.id, a.version
having count(e.id) <> a.version
    or count(distinct e.account_version) <> count(e.id)
    or coalesce(min(e.account_version), 1) <> 1
    or coalesce(max(e.account_version), 0) <> a.version
    or bool_or(e.id is not null and exists (
         select from public.entries as later
          where later.account_id = e.account_id
            and later.account_version > e.account_version
            and later.id < e.id));
