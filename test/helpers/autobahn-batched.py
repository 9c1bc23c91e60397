# autobahn-python (Debian python3-autobahn) over a batched WebSocket subprotocol, for test/batched.test.ts.
# Usage: python3 autobahn-batched.py URL json|msgpack|cbor
# Calls the app's `add`, subscribes to `news` and asks the app (`burst`) to publish 5 EVENTs, then prints one JSON
# line: {"protocol": ..., "sum": ..., "events": [...]} and leaves.
import asyncio
import json
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer

URL, NAME = sys.argv[1], sys.argv[2]
SERIALIZER = {'json': JsonSerializer, 'msgpack': MsgPackSerializer, 'cbor': CBORSerializer}[NAME](batched=True)


class Client(ApplicationSession):
    async def onJoin(self, details):
        events = []
        done = asyncio.get_event_loop().create_future()

        def on_news(i):
            events.append(i)
            if len(events) == 5 and not done.done():
                done.set_result(None)

        await self.subscribe(on_news, 'news')
        total = sum(await asyncio.gather(*[self.call('add', i, 10) for i in range(5)]))
        await self.call('burst', 5)
        await asyncio.wait_for(done, 5)
        print(json.dumps({'protocol': self._transport.websocket_protocol_in_use, 'sum': total, 'events': events}), flush=True)
        self.leave()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


ApplicationRunner(URL, 'realm1', serializers=[SERIALIZER]).run(Client)
