# autobahn-python (Debian python3-autobahn) over WAMP-over-RawSocket, for test/rawsocket.test.ts.
# Usage: python3 autobahn-rawsocket.py tcp:PORT|tls:PORT:CAFILE|unix:PATH json|msgpack|cbor
# Calls the app's `add` and the WebSocket client's `browser.echo` (router mode), subscribes to `news` and asks the
# app (`burst`) to publish 3 EVENTs, then prints one JSON line {"sum", "echo", "events"} and leaves.
import asyncio
import json
import ssl
import sys

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory, WampRawSocketClientProtocol
from autobahn.asyncio.wamp import ApplicationSession
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import ComponentConfig

# autobahn-python 22.7's asyncio RawSocket client lacks the `transport_details` its session reads at WELCOME (an
# AttributeError that ends the session): a client bug, not ours. Give it the attribute.
if not hasattr(WampRawSocketClientProtocol, 'transport_details'):
    WampRawSocketClientProtocol.transport_details = None

TARGET, NAME = sys.argv[1], sys.argv[2]
SERIALIZER = {'json': JsonSerializer, 'msgpack': MsgPackSerializer, 'cbor': CBORSerializer}[NAME]()


class Client(ApplicationSession):
    async def onJoin(self, details):
        events = []
        done = asyncio.get_event_loop().create_future()

        def on_news(i):
            events.append(i)
            if len(events) == 3 and not done.done():
                done.set_result(None)

        await self.subscribe(on_news, 'news')
        total = sum(await asyncio.gather(*[self.call('add', i, 10) for i in range(3)]))
        echo = await self.call('browser.echo', 'from python')
        await self.call('burst', 3)
        await asyncio.wait_for(done, 5)
        print(json.dumps({'sum': total, 'echo': echo, 'events': events}), flush=True)
        self.leave()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
factory = WampRawSocketClientFactory(lambda: Client(ComponentConfig('realm1')), serializer=SERIALIZER)
kind, _, rest = TARGET.partition(':')
if kind == 'unix':
    loop.run_until_complete(loop.create_unix_connection(factory, rest))
elif kind == 'tls':
    port, _, cafile = rest.partition(':')
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    loop.run_until_complete(loop.create_connection(factory, '127.0.0.1', int(port), ssl=context))
else:
    loop.run_until_complete(loop.create_connection(factory, '127.0.0.1', int(rest)))
loop.call_later(10, loop.stop)
loop.run_forever()
