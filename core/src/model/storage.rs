//! Where the bytes of a model live: a memory map, a static slice or an aligned heap copy.

/// Where the bytes of a model live.
pub enum Storage {
    /// A read-only memory map of the file.
    Mmap(memmap2::Mmap),
    /// A static, 64-byte aligned slice (flash, `include_bytes!`).
    Static(&'static [u8]),
    /// An aligned heap copy.
    Owned(Vec<AlignedBlock>, usize),
}

/// 64 bytes aligned to 64: the unit of owned model storage.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
pub struct AlignedBlock(pub [u8; 64]);

impl Storage {
    /// Copies bytes into aligned heap storage.
    pub fn owned(bytes: &[u8]) -> Storage {
        let mut blocks = vec![AlignedBlock([0; 64]); bytes.len().div_ceil(64)];
        bytemuck::cast_slice_mut::<AlignedBlock, u8>(&mut blocks)[..bytes.len()]
            .copy_from_slice(bytes);
        Storage::Owned(blocks, bytes.len())
    }
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mmap(m) => m,
            Storage::Static(s) => s,
            Storage::Owned(b, len) => &bytemuck::cast_slice::<AlignedBlock, u8>(b)[..*len],
        }
    }
}
