/**
 * Schema migrations, in order, per dialect. A migration runs once, in a transaction, and is recorded in
 * `schema_migrations`; never edit a shipped one — add the next. Types differ only where the engines do:
 * BIGINT epoch milliseconds, jsonb/TEXT for JSON, boolean/INTEGER, and PostgreSQL's "C" collation so ids
 * and boot ids order by bytes as in SQLite.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

type Types = { text: string; key: string; json: string; bool: string; big: string };

const initial = (t: Types) => `
CREATE TABLE instances (
  id ${t.key} PRIMARY KEY,
  version INTEGER NOT NULL,
  project_id ${t.text} NOT NULL,
  name ${t.text} NOT NULL,
  provider ${t.text} NOT NULL,
  flavor ${t.text} NOT NULL,
  image ${t.text} NOT NULL,
  datastore ${t.text} NOT NULL,
  datastore_version ${t.text} NOT NULL,
  volume_size_gb INTEGER,
  server_id ${t.text},
  server_status ${t.text},
  task_status ${t.text} NOT NULL,
  service_status ${t.text} NOT NULL,
  guest_id ${t.text} NOT NULL,
  last_seen_at ${t.big},
  last_boot_id ${t.text},
  last_seq ${t.big},
  previous_boot_id ${t.text},
  fault ${t.json},
  configuration_overrides ${t.json} NOT NULL,
  created_at ${t.big} NOT NULL,
  updated_at ${t.big} NOT NULL,
  deleted_at ${t.big}
);
CREATE INDEX instances_project ON instances (project_id, id);
CREATE INDEX instances_service_status ON instances (service_status);
CREATE INDEX instances_last_seen ON instances (last_seen_at);
CREATE INDEX instances_guest ON instances (guest_id);

CREATE TABLE tasks (
  id ${t.key} PRIMARY KEY,
  version INTEGER NOT NULL,
  kind ${t.text} NOT NULL,
  instance_id ${t.text} NOT NULL REFERENCES instances (id),
  state ${t.text} NOT NULL,
  step ${t.text} NOT NULL,
  checkpoint ${t.json} NOT NULL,
  args ${t.json} NOT NULL,
  attempts INTEGER NOT NULL,
  lease_owner ${t.text},
  lease_expires_at ${t.big},
  run_after ${t.big} NOT NULL,
  deadline ${t.big},
  last_error ${t.json},
  result ${t.json},
  request_id ${t.text},
  created_at ${t.big} NOT NULL,
  updated_at ${t.big} NOT NULL,
  finished_at ${t.big}
);
CREATE INDEX tasks_claimable ON tasks (state, run_after, created_at);
CREATE INDEX tasks_instance ON tasks (instance_id, created_at);

CREATE TABLE guest_certificates (
  serial ${t.key} PRIMARY KEY,
  guest_id ${t.text} NOT NULL,
  instance_id ${t.text},
  issued_at ${t.big} NOT NULL,
  not_after ${t.big} NOT NULL,
  revoked ${t.bool} NOT NULL,
  revoked_at ${t.big},
  revoked_reason ${t.text}
);
CREATE INDEX guest_certificates_guest ON guest_certificates (guest_id);
`;

/** Additive and nullable: rows written before it (and certificates not from enrolment) simply have none. */
const certificateKey = (text: string) => `ALTER TABLE guest_certificates ADD COLUMN public_key_sha256 ${text};`;

export const sqliteMigrations: Migration[] = [
  {
    version: 1,
    name: 'instances, tasks, guest certificates',
    sql: initial({ text: 'TEXT', key: 'TEXT', json: 'TEXT', bool: 'INTEGER', big: 'INTEGER' }),
  },
  { version: 2, name: 'guest certificate public key fingerprint', sql: certificateKey('TEXT') },
];

export const postgresMigrations: Migration[] = [
  {
    version: 1,
    name: 'instances, tasks, guest certificates',
    sql: initial({ text: 'TEXT COLLATE "C"', key: 'TEXT COLLATE "C"', json: 'JSONB', bool: 'BOOLEAN', big: 'BIGINT' }),
  },
  { version: 2, name: 'guest certificate public key fingerprint', sql: certificateKey('TEXT') },
];
