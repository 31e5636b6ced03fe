export { Journal, type JournalEntry, type JournalOptions, type Outcome, OutcomeSchema } from './journal.js';
