import common, time, statistics
from integrations.models import Connection
from integrations.dry_run import push_dry_run
import bench_push
ids = bench_push.contacts()
Connection.objects.filter(name='prof').delete()
c = Connection.objects.create(name='prof', provider='getraze', base_url='http://127.0.0.1:9/', auto_push=False)
try:
    xs=[]
    for _ in range(3):
        t=time.perf_counter(); push_dry_run(connections=[c], contacts=ids); xs.append(time.perf_counter()-t)
    print('dry run', [round(x,2) for x in xs])
finally:
    c.delete()
import timeit; print('calibration', min(timeit.repeat('sum(i * i for i in range(1_000_000))', number=1, repeat=5))*1000)
