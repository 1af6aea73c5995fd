# The guide's step 6 ManagedCredential, word for word; only the method it leaves out, _seconds_until_renew,
# is supplied below, and a driver runs it: acquire, renewals, the renewal past max TTL answered with a
# 4xx, a fresh acquire, revoke. BASE and TOKEN come from the environment.
import os
from datetime import datetime, timezone

TOKEN = os.environ["SCAIVAULT_TOKEN"]
BASE = os.environ["SCAIVAULT_ADDR"]

# --- the guide, step 6 -------------------------------------------------------------------------------
import asyncio, httpx

class ManagedCredential:
    def __init__(self, ttl="2h", refresh_margin_s=600):
        self.ttl = ttl
        self.refresh_margin_s = refresh_margin_s
        self.lease = None

    async def acquire(self):
        async with httpx.AsyncClient() as c:
            r = await c.post(
                f"{BASE}/v1/dynamic/engines/reporting-db/creds/readonly",
                headers={"Authorization": f"Bearer {TOKEN}"},
                json={"ttl": self.ttl},
            )
            self.lease = r.json()

    async def renew_loop(self):
        while True:
            # Renew when within margin of expiry
            await asyncio.sleep(self._seconds_until_renew())
            async with httpx.AsyncClient() as c:
                r = await c.post(
                    f"{BASE}/v1/dynamic/leases/{self.lease['lease_id']}/renew",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    json={"increment": self.ttl},
                )
                if r.status_code >= 400:
                    # Past max_ttl — regenerate
                    await self.acquire()

    async def revoke(self):
        async with httpx.AsyncClient() as c:
            await c.delete(
                f"{BASE}/v1/dynamic/leases/{self.lease['lease_id']}",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
# --- end of the guide ----------------------------------------------------------------------------------

# The guide's renew_loop keeps the lease it acquired and never records a renewal's new expiry, so the wait
# is measured from the lease's own duration: a renewal every (TTL - margin), at least half a second.
def _seconds_until_renew(self):
    issued = getattr(self, "_acquired_at", None)
    if issued is None or self.lease.get("lease_id") != getattr(self, "_acquired_id", None):
        self._acquired_at, self._acquired_id = datetime.now(timezone.utc), self.lease["lease_id"]
    return max(0.5, self.lease["lease_duration"] - self.refresh_margin_s)

ManagedCredential._seconds_until_renew = _seconds_until_renew

async def main():
    cred = ManagedCredential(ttl="4s", refresh_margin_s=3)
    await cred.acquire()
    first = cred.lease
    print(f"acquired {first['lease_id']} {first['data']['username']}", flush=True)
    loop = asyncio.create_task(cred.renew_loop())
    for _ in range(200):
        await asyncio.sleep(0.1)
        if cred.lease["lease_id"] != first["lease_id"]:
            break
    loop.cancel()
    print(f"regenerated {cred.lease['lease_id']} {cred.lease['data']['username']}", flush=True)
    await cred.revoke()
    print(f"revoked {cred.lease['lease_id']}", flush=True)

asyncio.run(main())
