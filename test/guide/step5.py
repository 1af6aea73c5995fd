# The guide's step 5, word for word but for BASE, the engine name and the expected count:
# borrow a lease, do work, revoke.
import os, httpx
from contextlib import contextmanager

TOKEN = os.environ["SCAIVAULT_TOKEN"]
BASE  = os.environ["SCAIVAULT_ADDR"]
ENGINE = os.environ["ENGINE"]

@contextmanager
def dynamic_pg_credentials(ttl="1h"):
    r = httpx.post(
        f"{BASE}/v1/dynamic/engines/{ENGINE}/creds/readonly",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"ttl": ttl, "metadata": {"purpose": "nightly report"}},
    )
    r.raise_for_status()
    lease = r.json()
    try:
        yield lease["data"]
    finally:
        httpx.delete(
            f"{BASE}/v1/dynamic/leases/{lease['lease_id']}",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )

# Usage
with dynamic_pg_credentials(ttl="2h") as creds:
    import psycopg2
    conn = psycopg2.connect(creds["connection_url"])
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders")
        print(cur.fetchone())
    conn.close()
print("username", creds["username"])
