export { type RedisOptions, RedisOptionsSchema, renderAclFile, renderRedisConf } from './config.js';
export { createRedisManager, RedisManager } from './manager.js';
export { encodeCommand, parseResp, RespClient, RespError, type RespValue, withRedis } from './resp.js';
