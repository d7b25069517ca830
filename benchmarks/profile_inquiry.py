import asyncio, time, os, datetime as dt, sys
for f in ("/tmp/cp.db","/tmp/cp.db-wal","/tmp/cp.db-shm"):
    if os.path.exists(f): os.remove(f)
import httpx
from tickets.api.app import create_app
from tickets.config import Settings
from tickets.db import upgrade, make_engine, session_scope
from tickets.auth import create_user
url="sqlite:////tmp/cp.db"; upgrade(url)
with session_scope(make_engine(url)) as s:
    _, tok = create_user(s, "b", "integration", dt.datetime.now(dt.UTC))
app = create_app(Settings(database_url=url), run_jobs=False)
texts=["我的退款5天了还没到账 订单2024112233", "退款多久能到账", "快递到哪了 单号SF1234567890", "怎么开发票", "耳机左边没声音"]
async def main():
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            h={"Authorization": "Bearer "+tok}
            for i in range(200):
                await c.post("/api/v1/inquiries", json={"channel":"chat","text":texts[i%5]}, headers=h)
            n=1000
            t=time.process_time()
            for i in range(n):
                await c.get("/healthz")
            base=(time.process_time()-t)/n*1000
            t=time.process_time()
            for i in range(n):
                await c.post("/api/v1/inquiries", json={"channel":"chat","text":texts[i%5]}, headers=h)
            inq=(time.process_time()-t)/n*1000
            print(f"CPU ms/request: healthz {base:.3f}  inquiry {inq:.3f}  (incl. httpx client overhead)")
            if len(sys.argv)>1:
                import cProfile, pstats
                pr=cProfile.Profile(); pr.enable()
                for i in range(500):
                    await c.post("/api/v1/inquiries", json={"channel":"chat","text":texts[i%5]}, headers=h)
                pr.disable(); pstats.Stats(pr).sort_stats("tottime").print_stats(30)
asyncio.run(main())
