export * from './requests.js';
export * from './results.js';
export * from './urls.js';
export * from './wait.js';
