//! sea-orm entities: the shape of the tables, nothing more. Behaviour lives in `store`.
pub mod county;
pub mod session;
pub mod survey;
pub mod user;
