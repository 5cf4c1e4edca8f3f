//! sea-orm entities: the shape of the tables, nothing more. Behaviour lives in `store`.
pub mod area;
pub mod channel;
pub mod channel_fill;
pub mod county;
pub mod draw;
pub mod draw_pick;
pub mod frame_person;
pub mod invitation;
pub mod questionnaire;
pub mod response;
pub mod school;
pub mod session;
pub mod submission_receipt;
pub mod survey;
pub mod survey_booklet;
pub mod user;
