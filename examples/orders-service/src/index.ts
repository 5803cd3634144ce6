export { createApp } from './app.js';
export type { OrdersApp } from './app.js';
export { DEV_DPOP_NONCE_SECRET, loadOrdersConfig, OrdersConfigError } from './config.js';
export type { OrdersConfig } from './config.js';
export type { NewOrder, Order, OrderItem, ValidationDetail } from './orders.js';
export { start } from './server.js';
export type { RunningOrdersService } from './server.js';
