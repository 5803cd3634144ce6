import assert from 'node:assert/strict';

import type { TokenRequestMessage } from '@bearer-guard/client';
import type {
  AuthenticateMessage,
  AuthorizeMessage,
  CircuitStateMessage,
  DiscoveryMessage,
  IntrospectionMessage,
  KeysLoadMessage,
} from '@bearer-guard/core';

import type * as read from '../src/messages.js';

/** `true` when every `T` is a `U`: a message field renamed or retyped in core or client fails typecheck here. */
type Fits<T, U> = [T] extends [U] ? true : false;

describe('@bearer-guard/otel: the message fields it reads (messages.ts)', function () {
  it('are what @bearer-guard/core and @bearer-guard/client publish (checked by the type checker)', function () {
    const fits: [
      Fits<AuthenticateMessage, read.AuthenticateFields>,
      Fits<AuthorizeMessage, read.AuthorizeFields>,
      Fits<CircuitStateMessage, read.CircuitStateFields>,
      Fits<KeysLoadMessage, read.KeysLoadFields>,
      Fits<DiscoveryMessage, read.DiscoveryFields>,
      Fits<IntrospectionMessage, read.IntrospectionFields>,
      Fits<TokenRequestMessage, read.TokenRequestFields>,
    ] = [true, true, true, true, true, true, true];
    assert.ok(fits.every(Boolean));
  });
});
