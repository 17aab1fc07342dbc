-- Seeds users :first .. :last into PostgreSQL (psql -v first=… -v last=… -v hash=…).
-- Every row is a valid user, as the service would have written it:
--   email / email_norm   user<n>@bench.example (unique)
--   nickname             User_<n>, nickname_norm user_<n> (unique)
--   first/last name      32 first names (n % 32) × 200 last names (20 prefixes × 10 suffixes,
--                        picked by a multiplicative hash of n: each ≈ 0.5 %, scattered)
--   search_text          lower(email) ␟ nickname_norm ␟ lower(first) ␟ lower(last)
--                        joined by chr(31), as users::repo::search_text does
--   role                 0.2 % ADMIN, 1.8 % MANAGER, 10 % ANONYMOUS (unverified), rest AUTHENTICATED
--   is_locked            n % 97 = 0;  is_professional  n % 7 = 0
--   password_hash        :hash, a real Argon2id hash made by the service (one password for all)
--   created_at           2021-01-01 + n × 2 min (+ jitter), so newer users have higher n
INSERT INTO users (id, email, email_norm, nickname, nickname_norm, first_name, last_name,
                   role, is_professional, professional_status_updated_at, email_verified,
                   is_locked, locked_until, failed_login_attempts, password_hash,
                   last_login_at, created_at, updated_at, search_text)
SELECT gen_random_uuid(),
       'user' || n || '@bench.example',
       'user' || n || '@bench.example',
       'User_' || n,
       'user_' || n,
       first_name,
       last_name,
       CASE WHEN n % 500 = 0 THEN 'ADMIN'
            WHEN n % 50 = 0 THEN 'MANAGER'
            WHEN n % 10 = 3 THEN 'ANONYMOUS'
            ELSE 'AUTHENTICATED' END,
       n % 7 = 0,
       CASE WHEN n % 7 = 0 THEN created_at + interval '10 days' END,
       n % 10 <> 3,
       n % 97 = 0,
       NULL,
       CASE WHEN n % 97 = 0 THEN 5 ELSE 0 END,
       :'hash',
       CASE WHEN n % 3 = 0 THEN NULL ELSE created_at + (n % 90) * interval '1 day' END,
       created_at,
       created_at + (n % 30) * interval '1 day',
       'user' || n || '@bench.example' || chr(31) || 'user_' || n || chr(31)
           || lower(first_name) || chr(31) || lower(last_name)
FROM (
    SELECT n,
           timestamptz '2021-01-01 00:00:00+00' + n * interval '2 minutes'
               + (n::bigint * 7919 % 60) * interval '1 second' AS created_at,
           (ARRAY['Ada','Alan','Grace','Edsger','Barbara','Donald','Frances','John',
                  'Margaret','Ken','Radia','Dennis','Shafi','Leslie','Hedy','Tim',
                  'Anita','Bjarne','Carol','Dana','Erik','Fatima','Guido','Hanna',
                  'Ivan','Jean','Karen','Linus','Maria','Niklaus','Olga','Pavel'])[1 + n % 32]
               AS first_name,
           (ARRAY['Kowal','Nakam','Okaf','Lind','Petr','Hart','Mor','Sant','Vasq','Fitz',
                  'Gold','Rosen','Abram','Ivan','Yama','Chen','Duval','Ferr','Gall','Brann'])[1 + (n::bigint * 2654435761 / 256) % 200 % 20]
             || (ARRAY['ski','ura','or','berg','ov','well','ez','ini','stein','sen'])[1 + (n::bigint * 2654435761 / 256) % 200 / 20]
               AS last_name
    FROM generate_series(:first::int, :last::int) AS n
) AS seed;
