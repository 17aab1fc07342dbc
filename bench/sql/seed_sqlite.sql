-- Seeds users 1 .. (SELECT last FROM bench_param) into the service's SQLite
-- database; the same population as seed_pg.sql (see there), with SQLite's
-- storage forms: 16-byte blob ids, RFC 3339 text timestamps, 0/1 booleans.
-- Expects a table bench_param(last INTEGER, hash TEXT) with one row.
WITH RECURSIVE seq(n) AS (
    SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < (SELECT last FROM bench_param)
),
seed AS (
    SELECT n,
           strftime('%Y-%m-%dT%H:%M:%S', '2021-01-01 00:00:00',
                    '+' || (n * 120 + n * 7919 % 60) || ' seconds') || '.000000+00:00' AS created_at,
           strftime('%Y-%m-%dT%H:%M:%S', '2021-01-01 00:00:00',
                    '+' || (n * 120 + n * 7919 % 60 + (n % 30) * 86400) || ' seconds') || '.000000+00:00' AS updated_at,
           CASE WHEN n % 3 = 0 THEN NULL ELSE
             strftime('%Y-%m-%dT%H:%M:%S', '2021-01-01 00:00:00',
                      '+' || (n * 120 + n * 7919 % 60 + (n % 90) * 86400) || ' seconds') || '.000000+00:00'
           END AS last_login_at,
           CASE WHEN n % 7 = 0 THEN
             strftime('%Y-%m-%dT%H:%M:%S', '2021-01-01 00:00:00',
                      '+' || (n * 120 + n * 7919 % 60 + 10 * 86400) || ' seconds') || '.000000+00:00'
           END AS professional_at,
           json_extract('["Ada","Alan","Grace","Edsger","Barbara","Donald","Frances","John",
                          "Margaret","Ken","Radia","Dennis","Shafi","Leslie","Hedy","Tim",
                          "Anita","Bjarne","Carol","Dana","Erik","Fatima","Guido","Hanna",
                          "Ivan","Jean","Karen","Linus","Maria","Niklaus","Olga","Pavel"]',
                        '$[' || (n % 32) || ']') AS first_name,
           json_extract('["Kowal","Nakam","Okaf","Lind","Petr","Hart","Mor","Sant","Vasq","Fitz",
                          "Gold","Rosen","Abram","Ivan","Yama","Chen","Duval","Ferr","Gall","Brann"]',
                        '$[' || ((n * 2654435761 / 256) % 200 % 20) || ']')
             || json_extract('["ski","ura","or","berg","ov","well","ez","ini","stein","sen"]',
                             '$[' || ((n * 2654435761 / 256) % 200 / 20) || ']') AS last_name
    FROM seq
)
INSERT INTO users (id, email, email_norm, nickname, nickname_norm, first_name, last_name,
                   role, is_professional, professional_status_updated_at, email_verified,
                   is_locked, locked_until, failed_login_attempts, password_hash,
                   last_login_at, created_at, updated_at, search_text)
SELECT randomblob(16),
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
       professional_at,
       n % 10 <> 3,
       n % 97 = 0,
       NULL,
       CASE WHEN n % 97 = 0 THEN 5 ELSE 0 END,
       (SELECT hash FROM bench_param),
       last_login_at,
       created_at,
       updated_at,
       'user' || n || '@bench.example' || char(31) || 'user_' || n || char(31)
           || lower(first_name) || char(31) || lower(last_name)
FROM seed;
