export { type DoctorCheck, type DoctorOptions, runDoctor } from './commands/doctor.js';
export { CliError, ExitCode } from './exit-codes.js';
export { buildProgram, main } from './program.js';
