export { type BlockDevice, type DeviceRoots, findBySerial, listDisks, VIRTIO_SERIAL_BYTES } from './device.js';
export { probeFilesystem, type RunTool, VOLUME_LABEL, volumeUuid } from './filesystem.js';
export { DataVolume, type DataVolumeOptions, type VolumeSpec, type VolumeStats } from './volume.js';
